import type { CallOutcomeKind, CallStatus } from '../common/events';

/** The call statuses in the only order a call moves through them (the SQL guard of voice_calls reads this list). */
export const CALL_STATUS_ORDER: readonly CallStatus[] = ['queued', 'ringing', 'answered', 'ended'];

/** Who answered, as far as the provider could tell (answering-machine detection). */
export type AnsweredBy = 'human' | 'machine' | 'unknown';

/** How a call ended as a provider reports it; `answered` becomes key_pressed, no_key or voicemail with what the call recorded. */
export type CallEnd = 'answered' | Exclude<CallOutcomeKind, 'key_pressed' | 'no_key' | 'voicemail'>;

/** One step of a call, provider-neutral: what a provider's folder makes of one of its callbacks. */
export type CallStep =
  | { kind: 'status'; status: CallStatus; sequence: number | null; answeredBy: AnsweredBy | null; end: CallEnd | null; sipResponseCode: number | null }
  | { kind: 'key'; digits: string };
