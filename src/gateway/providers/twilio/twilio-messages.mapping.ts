import type { DeliveryStatus } from '../../delivery-receipts.types';
import { ProviderError } from '../../ports';
import { isTwilioRestError } from './twilio-client';

/**
 * Twilio's message statuses (the `MessageStatus` of status callbacks) onto ours: accepted, scheduled, queued,
 * sending and sent → sent; delivered and read → delivered; undelivered → undelivered; failed and canceled →
 * failed. Anything else is no status (answered, recorded nowhere).
 */
const STATUS: Record<string, DeliveryStatus> = {
  accepted: 'sent',
  scheduled: 'sent',
  queued: 'sent',
  sending: 'sent',
  sent: 'sent',
  delivered: 'delivered',
  read: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

export function deliveryStatusOf(messageStatus: string | undefined): DeliveryStatus | null {
  return (messageStatus !== undefined && STATUS[messageStatus]) || null;
}

/** Twilio error codes that say the number cannot receive the message (named in the recorded error). */
const NUMBER_ERRORS: Record<number, string> = {
  21211: 'invalid number',
  21214: 'number cannot be reached',
  21217: 'number does not exist',
  21610: 'number unsubscribed',
  21612: 'number cannot be reached from this sender',
  21614: 'not a mobile number',
};

/**
 * A refused create-message (or create-call) request as a ProviderError. Only Twilio's status and error code
 * are kept: its messages may quote the number. 5xx and 408 are retryable (another provider may take it), 429
 * too (with its Retry-After, see twilio-client.ts); any other 4xx (invalid or unreachable number, rejected
 * content, credentials) is permanent: it would be refused again.
 */
export function twilioRefusal(err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  if (!isTwilioRestError(err)) return new ProviderError('twilio', 'unexpected answer', true);
  const code = typeof err.code === 'number' ? err.code : undefined;
  const what = `HTTP ${err.status}${code !== undefined ? ` (Twilio error ${code}${NUMBER_ERRORS[code] ? `: ${NUMBER_ERRORS[code]}` : ''})` : ''}`;
  const retryable = err.status >= 500 || err.status === 408 || err.status === 429;
  return new ProviderError('twilio', what, retryable, err.status);
}
