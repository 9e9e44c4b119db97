import type { CallOutcome } from '../common/events';

/** Outcomes that mean the number has no voice service at all. */
const ABSENT: ReadonlySet<CallOutcome['kind']> = new Set(['unallocated', 'out_of_service']);

/** What one ended call means for its check: decided, or call again after the retry delay. */
export type CheckStep = { kind: 'decide'; status: 'confirmed' | 'absent' | 'unknown' } | { kind: 'retry' };

/**
 * Judges a check's latest call, given the outcomes of its earlier calls (issue 10 item 7):
 * - only the expected key confirms; a wrong key, like silence, voicemail, busy, no answer, unavailable, rejected or a
 *   routing failure, found nothing: another call follows while `retries` allow, then the check is `unknown`;
 * - a number the network says does not exist (unallocated, out of service) is `absent` only when a second call
 *   says so too: the first such answer is always confirmed by one more call, whatever `retries` says.
 */
export function judgeCall(earlier: readonly string[], outcome: CallOutcome, expectedKey: string, retries: number): CheckStep {
  if (outcome.kind === 'key_pressed' && outcome.digits.startsWith(expectedKey)) return { kind: 'decide', status: 'confirmed' };
  if (ABSENT.has(outcome.kind)) {
    return earlier.some((o) => ABSENT.has(o as CallOutcome['kind'])) ? { kind: 'decide', status: 'absent' } : { kind: 'retry' };
  }
  const foundNothing = earlier.filter((o) => !ABSENT.has(o as CallOutcome['kind'])).length + 1;
  return foundNothing <= retries ? { kind: 'retry' } : { kind: 'decide', status: 'unknown' };
}
