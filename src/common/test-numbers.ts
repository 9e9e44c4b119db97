/**
 * Test numbers (sandbox): what a client's test number is scripted to do. Declared here because several modules
 * carry the script (clients stores it, issuance marks the verification, risk the check, gateway plays it).
 */

/** What the code message of a test number does after it is "sent": a receipt, a permanent failure, or nothing (null). */
export const SCRIPTED_DELIVERIES = ['delivered', 'undelivered', 'failed'] as const;
export type ScriptedDelivery = (typeof SCRIPTED_DELIVERIES)[number];

/** How a voice-contract check call of a test number ends. */
export const SCRIPTED_IVR_OUTCOMES = ['key_pressed', 'voicemail', 'unallocated', 'busy', 'no_answer'] as const;
export type ScriptedIvrOutcome = (typeof SCRIPTED_IVR_OUTCOMES)[number];

/** A verification of a test number, as stored on it: which test number, and its script. */
export interface TestScript {
  testNumberId: string;
  deliveryStatus: ScriptedDelivery | null;
  ivrOutcome: ScriptedIvrOutcome;
}

/** The code a test number accepts when none was configured for it: the first `length` digits of 1234567890 (123456 for 6). */
export function defaultTestCode(length: number): string {
  return '1234567890'.slice(0, length);
}
