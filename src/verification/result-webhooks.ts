import { Injectable, OnModuleInit } from '@nestjs/common';
import { DomainEvents, EventBus } from '../common/events';
import { newId } from '../common/ids';
import { ProblemException } from '../common/problem';
import type { Tx } from '../common/tx';
import { WebhookTargets } from '../common/webhook-targets';
import { OutboxService } from '../gateway/outbox.service';
import { VerificationViews } from '../issuance/verification-views';
import type { Verification } from '../issuance/verification';
import { VerificationsRepository } from '../issuance/verifications.repository';

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
 * the outbox, sent after commit, signed with the client's webhook secrets (Standard Webhooks), retried with backoff.
 * Sent to the verification's callbackUrl, else the client's configured URL; neither: nothing is queued.
 */
@Injectable()
export class ResultWebhooks implements OnModuleInit {
  constructor(
    private readonly outbox: OutboxService,
    private readonly views: VerificationViews,
    private readonly targets: WebhookTargets,
    private readonly verifications: VerificationsRepository,
    private readonly events: EventBus,
  ) {}

  onModuleInit(): void {
    this.events.subscribe('message.status', 'ResultWebhooks.onMessageStatus', (tx, e) => this.onMessageStatus(tx, e));
  }

  /**
   * A receipt said the code message reached the phone (`message.delivered`) or will not (`message.undelivered`,
   * for undelivered and failed): the caller is told, with the verification as it now reads (its `delivery`).
   * A `sent` receipt tells the caller nothing new. The gateway publishes each step once, so one webhook each.
   */
  private async onMessageStatus(tx: Tx, e: DomainEvents['message.status']): Promise<void> {
    if (!e.verificationId || !e.clientId || e.status === 'sent') return;
    // Gone (pruned by housekeeping): nobody to tell. Any other failure fails the receipt's request: an error answer,
    // not a 2xx for a receipt that was not saved.
    const row = await this.verifications.findOwn(tx, e.verificationId, e.clientId).catch((err: unknown) => {
      if (err instanceof ProblemException && err.status === 404) return undefined;
      throw err;
    });
    if (!row) return;
    await this.enqueue(tx, row, e.status === 'delivered' ? 'message.delivered' : 'message.undelivered', e.at);
  }

  /** `clientWebhookUrl`: the client's URL when the caller knows it (null: it has none), so nothing is read for nothing. */
  async enqueue(tx: Tx, row: Verification, type: WebhookType, now: Date, clientWebhookUrl?: string | null): Promise<void> {
    if (!row.callbackUrl && clientWebhookUrl === null) return;
    const target = await this.targets.webhookTargetOf(tx, row.clientId, now);
    const url = row.callbackUrl ?? target?.url;
    if (!url || !target) return;
    // The client's own endpoint answered 410 Gone: nothing goes there until an admin enables it again.
    if (!row.callbackUrl && target.disabledAt) return;
    const eventId = newId('evt', now.getTime());
    const body = JSON.stringify({ id: eventId, type, createdAt: now.toISOString(), data: await this.views.view(tx, row, now) });
    this.outbox.queueWebhook(tx, { verificationId: row.id, clientId: row.clientId, payload: { url, body, eventId, type }, now });
  }
}
