import type { AnsweredBy, CallEnd, CallStep } from '../../voice-calls.types';
import type { FormParams } from './twilio-signature';

/**
 * Twilio's call callbacks onto our provider-neutral steps (issue 10, item 7).
 * - Status callbacks (`CallStatus`): queued/initiated → queued, ringing → ringing, in-progress → answered, and the
 *   final ones → ended: completed → answered (the key press, or its absence, decides the outcome), busy → busy,
 *   no-answer and canceled → no_answer, failed → by `SipResponseCode`: 404/484/604 (no such number) → unallocated,
 *   410 (gone) → out_of_service, 480 → unavailable, 486/600 → busy, 603 → rejected, 408 → no_answer, anything else
 *   (503, none…) → route_error.
 * - `AnsweredBy` (answering-machine detection): human → human, machine_* and fax → machine, unknown → unknown.
 * - The <Gather> action (`Digits`): a key step.
 */
const STATUS: Record<string, { status: 'queued' | 'ringing' | 'answered' | 'ended'; end?: CallEnd }> = {
  queued: { status: 'queued' },
  initiated: { status: 'queued' },
  ringing: { status: 'ringing' },
  'in-progress': { status: 'answered' },
  completed: { status: 'ended', end: 'answered' },
  busy: { status: 'ended', end: 'busy' },
  'no-answer': { status: 'ended', end: 'no_answer' },
  canceled: { status: 'ended', end: 'no_answer' },
  failed: { status: 'ended', end: 'route_error' },
};

const FAILED_BY_SIP: Record<number, CallEnd> = {
  404: 'unallocated',
  484: 'unallocated',
  604: 'unallocated',
  410: 'out_of_service',
  480: 'unavailable',
  486: 'busy',
  600: 'busy',
  603: 'rejected',
  408: 'no_answer',
};

/** Twilio error codes of a refused create-call request that mean the number cannot exist (→ unallocated). */
export const TWILIO_INVALID_NUMBER_CODES: ReadonlySet<number> = new Set([13224, 21217, 21211, 21214]);

function one(params: FormParams, name: string): string | undefined {
  const v = params[name];
  return Array.isArray(v) ? v[0] : v;
}

function int(value: string | undefined): number | null {
  return value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : null;
}

/**
 * The caller of an inbound call in E.164 form, or null when it is withheld: Twilio passes `anonymous`, `Restricted`,
 * `Unavailable`, `Unknown` or its placeholder +266696687 for callers that hide their number.
 */
export function callerOf(params: FormParams): string | null {
  const from = one(params, 'From') ?? '';
  if (!/^\+[1-9]\d{6,14}$/.test(from) || from === '+266696687') return null;
  return from;
}

export function answeredByOf(value: string | undefined): AnsweredBy | null {
  if (!value) return null;
  if (value === 'human') return 'human';
  if (value.startsWith('machine') || value === 'fax') return 'machine';
  return 'unknown';
}

/** The step a status callback reports; null for a status we do not know (answered 204, recorded nowhere). */
export function stepOfStatusCallback(params: FormParams): CallStep | null {
  const known = STATUS[one(params, 'CallStatus') ?? ''];
  if (!known) return null;
  const sipResponseCode = int(one(params, 'SipResponseCode'));
  let end = known.end ?? null;
  if (one(params, 'CallStatus') === 'failed') end = (sipResponseCode !== null && FAILED_BY_SIP[sipResponseCode]) || 'route_error';
  return { kind: 'status', status: known.status, sequence: int(one(params, 'SequenceNumber')), answeredBy: answeredByOf(one(params, 'AnsweredBy')), end, sipResponseCode };
}

/** The step a <Gather> action reports: the keys pressed (null when none, e.g. only the finish key). */
export function stepOfGatherAction(params: FormParams): CallStep | null {
  const digits = one(params, 'Digits') ?? '';
  return /^[0-9*#]{1,32}$/.test(digits) ? { kind: 'key', digits } : null;
}
