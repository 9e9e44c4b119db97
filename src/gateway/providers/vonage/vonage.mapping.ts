import type { DeliveryStatus } from '../../delivery-receipts.types';
import { ProviderError } from '../../ports';

/**
 * Vonage Messages API statuses (the `status` of its message status webhooks) onto ours: submitted → sent;
 * delivered and read → delivered; undeliverable → undelivered; rejected → failed. Anything else is no status.
 */
const STATUS: Record<string, DeliveryStatus> = {
  submitted: 'sent',
  delivered: 'delivered',
  read: 'delivered',
  undeliverable: 'undelivered',
  rejected: 'failed',
};

export function deliveryStatusOf(status: unknown): DeliveryStatus | null {
  return (typeof status === 'string' && STATUS[status]) || null;
}

/** Retry-After in seconds or as an HTTP date; capped at 10 minutes. */
function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value || value.trim() === '') return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 600_000) : undefined;
}

/** Never connected (refused, no such host): surely not sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** A 2xx answer the SDK could not read (a malformed body): Vonage accepted the request all the same. */
export function acceptedDespite(err: unknown): boolean {
  const response = (err as { response?: unknown } | null)?.response;
  return response instanceof Response && response.ok;
}

/**
 * A failed Vonage request as a ProviderError. An error answer (the SDK's VetchError carries the fetch Response)
 * keeps only its status and the error type's code (`…/messages#1150`): Vonage's `detail` may quote the number.
 * 5xx, 408 and 429 (with Retry-After) are retryable; any other 4xx (invalid number, credentials, content) is
 * permanent. No answer: refused connections surely sent nothing; a timeout (the SDK aborts its fetch) or a
 * reset leaves it unknown whether Vonage took the message.
 */
export async function vonageRefusal(err: unknown, timeoutMs: number): Promise<ProviderError> {
  if (err instanceof ProviderError) return err;
  const response = (err as { response?: unknown } | null)?.response;
  if (response instanceof Response) {
    let type = '';
    try {
      const body = (await response.text()).slice(0, 4096);
      const t = (JSON.parse(body) as { type?: unknown }).type;
      if (typeof t === 'string') type = /#([A-Za-z0-9_-]{1,40})$/.exec(t)?.[1] ?? '';
    } catch {
      type = '';
    }
    const status = response.status;
    const what = `HTTP ${status}${type ? ` (Vonage error ${type})` : ''}`;
    const retryable = status >= 500 || status === 408 || status === 429;
    return new ProviderError('vonage', what, retryable, status, status === 429 ? { retryAfterMs: retryAfterMs(response.headers.get('retry-after')) } : {});
  }
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'AbortError' || name === 'TimeoutError') return new ProviderError('vonage', `timed out after ${timeoutMs} ms`, true, undefined, { unknown: true });
  const code = ((err as { cause?: { code?: unknown } } | null)?.cause ?? (err as { code?: unknown } | null))?.code;
  if (typeof code === 'string' && NOT_SENT.has(code)) return new ProviderError('vonage', 'connection failed', true);
  return new ProviderError('vonage', 'connection lost', true, undefined, { unknown: true });
}
