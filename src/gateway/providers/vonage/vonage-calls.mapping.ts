import type { CallEnd, CallStep } from '../../voice-calls.types';

/**
 * Vonage Voice API webhooks onto our provider-neutral steps (issue 10, item 7), as Vonage's Voice API webhook
 * reference describes them (JSON bodies; the call is `uuid`, or `call_uuid` on the machine-detection events).
 * - The event webhook (`event_url`), by `status`: started → queued, ringing → ringing, answered → answered,
 *   human / machine (machine detection) → answered by a person / a machine, and the final ones → ended:
 *   completed → answered (the key press, or its absence, decides the outcome), busy → busy, cancelled and
 *   timeout (the ringing timer ran out) → no_answer, unanswered, rejected and failed → by their `detail`:
 *   invalid_number → unallocated, number_out_of_service → out_of_service (both the "no such number" class: the
 *   risk module confirms them with a second call before it records `absent`), unavailable → unavailable,
 *   restricted (the carrier refused) and declined (the callee did) → rejected, carrier_timeout → no_answer,
 *   cannot_route and internal_error → route_error; without a known detail, unanswered → no_answer, rejected →
 *   rejected, failed → route_error. Other statuses (transfer, record…) are no step.
 * - The input webhook (the NCCO `input`'s eventUrl): `dtmf.digits` is a key step; `timed_out` or no digits is no
 *   step (the call then ends `completed`, which makes it no_key).
 * Vonage sends no sequence number: the order of the statuses (CALL_STATUS_ORDER, guarded in SQL) keeps a late or
 * repeated event from moving a call back. No SIP code is given either (sipResponseCode null).
 */
const STATUS: Record<string, { status: 'queued' | 'ringing' | 'answered' | 'ended'; end?: CallEnd; answeredBy?: 'human' | 'machine' }> = {
  started: { status: 'queued' },
  ringing: { status: 'ringing' },
  answered: { status: 'answered' },
  human: { status: 'answered', answeredBy: 'human' },
  machine: { status: 'answered', answeredBy: 'machine' },
  completed: { status: 'ended', end: 'answered' },
  busy: { status: 'ended', end: 'busy' },
  cancelled: { status: 'ended', end: 'no_answer' },
  timeout: { status: 'ended', end: 'no_answer' },
  unanswered: { status: 'ended', end: 'no_answer' },
  rejected: { status: 'ended', end: 'rejected' },
  failed: { status: 'ended', end: 'route_error' },
};

/** What the `detail` of an unanswered, rejected or failed call says about the number. */
const BY_DETAIL: Record<string, CallEnd> = {
  invalid_number: 'unallocated',
  number_out_of_service: 'out_of_service',
  unavailable: 'unavailable',
  restricted: 'rejected',
  declined: 'rejected',
  carrier_timeout: 'no_answer',
  cannot_route: 'route_error',
  internal_error: 'route_error',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The Vonage call id (a UUID) a webhook is about, or null: `uuid`, or `call_uuid` on machine-detection events. */
export function callIdOf(body: Record<string, unknown>): string | null {
  const id = typeof body.uuid === 'string' ? body.uuid : body.call_uuid;
  return typeof id === 'string' && UUID.test(id) ? id : null;
}

/** The step an event webhook reports; null for a status we do not follow (answered 204, recorded nowhere). */
export function stepOfCallEvent(body: Record<string, unknown>): CallStep | null {
  const status = typeof body.status === 'string' ? body.status : '';
  const known = Object.prototype.hasOwnProperty.call(STATUS, status) ? STATUS[status] : undefined;
  if (!known) return null;
  let end = known.end ?? null;
  const detail = typeof body.detail === 'string' ? body.detail : '';
  if ((status === 'unanswered' || status === 'rejected' || status === 'failed') && Object.prototype.hasOwnProperty.call(BY_DETAIL, detail)) end = BY_DETAIL[detail];
  return { kind: 'status', status: known.status, sequence: null, answeredBy: known.answeredBy ?? null, end, sipResponseCode: null };
}

/** The step an input webhook reports: the keys pressed, or null when the input timed out with none. */
export function stepOfInput(body: Record<string, unknown>): CallStep | null {
  const dtmf = body.dtmf && typeof body.dtmf === 'object' && !Array.isArray(body.dtmf) ? (body.dtmf as Record<string, unknown>) : null;
  // The multi-input webhook: `dtmf: { digits, timed_out }`; the older one: `dtmf: "1"`.
  const digits = dtmf ? dtmf.digits : body.dtmf;
  return typeof digits === 'string' && /^[0-9*#]{1,32}$/.test(digits) ? { kind: 'key', digits } : null;
}
