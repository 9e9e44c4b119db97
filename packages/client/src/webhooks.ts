import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { components } from './schema';

export { WebhookVerificationError };

/** A result webhook: a verification's outcome or a delivery receipt, with the verification as it was then. */
export type WebhookEvent = components['schemas']['WebhookEvent'];

/** Request headers as Node (`req.headers`), fetch (`Headers`) or a framework gives them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

const NAMES = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/**
 * Verifies a result webhook as the Standard Webhooks specification says (the service signs with the official
 * `standardwebhooks` library, and so does this): the HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`
 * under the client's `whsec_…` secret, a timestamp within five minutes. During a secret rotation the service
 * sends two signatures; either one that matches is enough.
 *
 * `body` must be the raw request body, byte for byte: JSON parsed and serialized again does not verify.
 * Answers the event; throws WebhookVerificationError when the request is not the service's. Use `id` (also the
 * webhook-id header, the same on every retry) to drop duplicates.
 */
export function verifyWebhook(headers: WebhookHeaders, body: string | Buffer, secret: string): WebhookEvent {
  const read = (name: string): string | undefined => {
    if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
    const record = headers as Record<string, string | string[] | undefined>;
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    const value = key === undefined ? undefined : record[key];
    return Array.isArray(value) ? value.join(' ') : value;
  };
  const given: Record<string, string> = {};
  for (const name of NAMES) {
    const value = read(name);
    if (value === undefined) throw new WebhookVerificationError(`Missing the ${name} header`);
    given[name] = value;
  }
  return new Webhook(secret).verify(body, given) as WebhookEvent;
}
