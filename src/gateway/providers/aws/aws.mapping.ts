import { ProviderError } from '../../ports';

/**
 * A refused SendTextMessage as a ProviderError (the End User Messaging SMS API, awsJson1_0: client faults answer
 * 400 with `{"__type": "<Exception>", "Message", "Reason", …}`, server faults 500). Only the exception's name,
 * its `Reason` and the status are kept: AWS's messages may quote the number.
 * - retryable (the next provider is tried, and the circuit counts it): ThrottlingException (AWS sends no
 *   Retry-After; one given on a 429 is honoured), InternalServerException and any 5xx, 408/429, and
 *   ServiceQuotaExceededException (a spend or throughput quota of the account: about AWS, not the message, so
 *   another provider may take it);
 * - permanent (it would be refused again): ValidationException (a destination that is not a valid number, a
 *   country not enabled, a sender id not registered…), ConflictException (e.g. the number opted out),
 *   AccessDeniedException, ResourceNotFoundException (an origination identity or configuration set that does not
 *   exist), rejected credentials or signatures, any other 4xx.
 * No answer: a refused connection surely sent nothing (retryable); a timeout or a reset leaves it unknown whether
 * AWS took the message.
 */
const RETRYABLE = new Set(['ThrottlingException', 'InternalServerException', 'ServiceQuotaExceededException', 'ServiceUnavailableException']);

/** Never connected (refused, no such host): surely not sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

interface AwsErrorShape {
  name?: unknown;
  code?: unknown;
  Reason?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $response?: { statusCode?: unknown; headers?: Record<string, unknown> };
}

/** Retry-After in seconds or as an HTTP date; capped at 10 minutes. */
function retryAfterMs(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 600_000) : undefined;
}

export function awsRefusal(err: unknown, timeoutMs: number): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = (err ?? {}) as AwsErrorShape;
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : typeof e.$response?.statusCode === 'number' ? e.$response.statusCode : undefined;
  const name = typeof e.name === 'string' ? e.name : '';
  if (status !== undefined) {
    const reason = typeof e.Reason === 'string' && /^[A-Z_]{1,64}$/.test(e.Reason) ? `: ${e.Reason}` : '';
    const exception = /^[A-Za-z]{1,64}$/.test(name) ? ` (AWS ${name}${reason})` : '';
    const retryable = RETRYABLE.has(name) || status >= 500 || status === 408 || status === 429;
    const retryAfter = status === 429 || name === 'ThrottlingException' ? retryAfterMs(e.$response?.headers?.['retry-after']) : undefined;
    return new ProviderError('aws', `HTTP ${status}${exception}`, retryable, status, retryAfter ? { retryAfterMs: retryAfter } : {});
  }
  if (name === 'TimeoutError' || name === 'AbortError') return new ProviderError('aws', `timed out after ${timeoutMs} ms`, true, undefined, { unknown: true });
  // (the SDK's retry layer may hand a network error over as a wrapper whose message names its code)
  const code = typeof e.code === 'string' ? e.code : (/\b(E[A-Z]+)\b/.exec(err instanceof Error ? err.message : String(err))?.[1] ?? '');
  if (NOT_SENT.has(code)) return new ProviderError('aws', 'connection failed', true);
  return new ProviderError('aws', 'connection lost', true, undefined, { unknown: true });
}
