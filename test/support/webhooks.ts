import { Webhook } from 'standardwebhooks';
import type { Received } from './fake-http';

/** The Standard Webhooks headers of a received request, as the official library reads them. */
export function webhookHeaders(r: Pick<Received, 'headers'>): Record<string, string> {
  const h = (name: string) => String(r.headers[name] ?? '');
  return { 'webhook-id': h('webhook-id'), 'webhook-timestamp': h('webhook-timestamp'), 'webhook-signature': h('webhook-signature') };
}

/** Whether the official `standardwebhooks` library accepts this webhook with this secret (now, with its 5-minute tolerance). */
export function verifiesWith(r: Pick<Received, 'headers' | 'body'>, secret: string): boolean {
  try {
    new Webhook(secret).verify(r.body, webhookHeaders(r));
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether one of the webhook's signatures is the one the official library makes with this secret for its id,
 * timestamp and body: the signature alone, whatever the timestamp (tests move the service's clock).
 */
export function signedWith(r: Pick<Received, 'headers' | 'body'>, secret: string): boolean {
  const h = webhookHeaders(r);
  const expected = new Webhook(secret).sign(h['webhook-id'], new Date(Number(h['webhook-timestamp']) * 1000), r.body);
  return h['webhook-signature'].split(' ').includes(expected);
}

/**
 * Every webhook a fake receiver got is signed as the official library signs, under one of the given secrets;
 * throws naming the first that does not. The SMS stack runs it on close, so every webhook of those specs is checked.
 */
export function assertWebhooksVerify(received: Received[], secrets: string[]): void {
  for (const r of received) {
    if (!r.headers['webhook-id']) continue;
    if (!secrets.some((s) => signedWith(r, s))) {
      throw new Error(`a webhook did not verify with the official Standard Webhooks library: ${r.headers['webhook-id']} ${r.body.slice(0, 200)}`);
    }
  }
}
