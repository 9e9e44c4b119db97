import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { newId } from '../common/ids';
import { OutboxRow, OutboxService } from '../gateway/outbox.service';
import type { VerificationRow } from '../issuance/verification.store';
import { VerificationStore } from '../issuance/verification.store';

export type WebhookType =
  | 'verification.approved'
  | 'verification.locked'
  | 'verification.expired'
  | 'verification.denied'
  | 'verification.failed'
  | 'message.delivered'
  | 'message.undelivered';

/**
 * Result webhooks to the calling service (API.md, Webhooks): queued in the caller's transaction through
 * the outbox, sent after commit, signed with the client's webhook secret, retried with backoff.
 * Sent to the verification's callbackUrl, else the client's configured URL; neither: nothing is queued.
 */
@Injectable()
export class ResultWebhooks {
  constructor(
    private readonly outbox: OutboxService,
    private readonly store: VerificationStore,
  ) {}

  /** `clientWebhookUrl`: the client's URL when the caller knows it (null: it has none), so nothing is read for nothing. */
  async enqueue(m: EntityManager, row: VerificationRow, type: WebhookType, now: Date, clientWebhookUrl?: string | null): Promise<OutboxRow[]> {
    if (!row.callback_url && clientWebhookUrl === null) return [];
    const [client]: Array<{ webhook_url: string | null; webhook_secret: string }> = await m.query(
      `SELECT webhook_url, webhook_secret FROM api_clients WHERE id = $1`,
      [row.client_id],
    );
    const url = row.callback_url ?? client?.webhook_url;
    if (!url || !client) return [];
    const eventId = newId('evt', now.getTime());
    const body = JSON.stringify({ id: eventId, type, createdAt: now.toISOString(), data: await this.store.toView(m, row, now) });
    const queued = await this.outbox.enqueueWebhook(m, {
      verificationId: row.id,
      clientId: row.client_id,
      payload: { url, secret: client.webhook_secret, body, eventId, type },
      now,
    });
    return [queued];
  }
}
