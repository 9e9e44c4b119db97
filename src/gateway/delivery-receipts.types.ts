/** A code message's delivery, as API.md's `delivery.status` reads it. */
export type DeliveryStatus = 'queued' | 'sent' | 'delivered' | 'undelivered' | 'failed';

/**
 * The order a message's delivery moves in: a receipt is applied only when it moves it forward, so duplicates
 * and receipts arriving out of order never move it back. delivered, undelivered and failed are final.
 * (The SQL guard of OutboxRepository.applyReceipt reads this list.)
 */
export const DELIVERY_RANK: Record<DeliveryStatus, number> = { queued: 0, sent: 1, delivered: 2, undelivered: 2, failed: 2 };

/** One verified receipt, provider-neutral: what a provider's folder makes of its status callback. */
export interface DeliveryReceipt {
  provider: string;
  /** Our outbox id, as the provider echoes it (Twilio: the callback URL's `ref`; Vonage: `client_ref`). */
  outboxId: string;
  /** The provider's own id of the message, when the receipt carries it. */
  providerMessageId: string | null;
  status: DeliveryStatus;
  /** The provider's error code for an undelivered or failed message (e.g. Twilio 30003). */
  errorCode: string | null;
}
