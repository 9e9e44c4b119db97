import { Injectable } from '@nestjs/common';
import { newId } from '../common/ids';
import type { Queryable, Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { OutboxDispatcher } from './outbox.dispatcher';
import { DeliveryState, OutboxRepository } from './outbox.repository';
import { CheckCallPayload, MessagePayload, OutboxBox, OutboxRow, WEBHOOK_MAX_ATTEMPTS, WebhookPayload } from './outbox.types';

/**
 * The outbox as other modules use it. Rows are written inside the caller's transaction, so a message or
 * webhook is only ever sent for state that committed; the plaintext a row needs (message text with its
 * code, webhook secret) is sealed with AES-GCM and wiped once the row is done. Each row is written already
 * claimed by this instance and handed to the dispatcher after commit; if this instance dies first, the
 * lease runs out and any instance's poller takes it.
 */
@Injectable()
export class OutboxService {
  constructor(
    private readonly config: AppConfig,
    private readonly box: OutboxBox,
    private readonly repo: OutboxRepository,
    private readonly dispatcher: OutboxDispatcher,
  ) {}

  /** Queues a code message (its INSERT joins the transaction's combined statement); sent after commit. */
  queueMessage(
    tx: Tx,
    args: { channel: 'sms' | 'voice'; verificationId: string; clientId: string; payload: MessagePayload; segments: number | null; now: Date },
  ): { id: string } {
    return this.queue(tx, {
      id: newId('msg'),
      kind: args.channel,
      verification_id: args.verificationId,
      client_id: args.clientId,
      payload: this.box.seal(args.payload),
      attempts: 1,
      max_attempts: this.config.gateway.messageMaxAttempts,
      segments: args.segments,
    }, args.now);
  }

  /** Queues a result webhook; delivered after commit. */
  queueWebhook(tx: Tx, args: { verificationId: string; clientId: string; payload: WebhookPayload; now: Date }): { id: string } {
    return this.queue(tx, {
      id: newId('whk'),
      kind: 'webhook',
      verification_id: args.verificationId,
      client_id: args.clientId,
      payload: this.box.seal(args.payload),
      attempts: 1,
      max_attempts: WEBHOOK_MAX_ATTEMPTS,
      segments: null,
    }, args.now);
  }

  /**
   * Queues a voice-contract check call; placed after commit, or from `notBefore` on (a retry, placed by the poller).
   * Its outcome comes back as `call.completed` events carrying `payload.reference`.
   */
  queueCheckCall(tx: Tx, args: { clientId: string | null; payload: CheckCallPayload; now: Date; notBefore?: Date }): { id: string } {
    const row: OutboxRow = {
      id: newId('cal'),
      kind: 'check_call',
      verification_id: null,
      client_id: args.clientId,
      payload: this.box.seal(args.payload),
      attempts: 1,
      max_attempts: this.config.gateway.messageMaxAttempts,
      segments: null,
    };
    if (args.notBefore && args.notBefore > args.now) {
      this.repo.insertDue(tx, row, args.notBefore, args.now);
      return { id: row.id };
    }
    return this.queue(tx, row, args.now);
  }

  /**
   * Code messages of this verification that have not gone out are not sent (a newer code replaced theirs, or the
   * verification ended): not a retry, nor a takeover; a try under way finishes. `reason` is their last_error.
   */
  supersedeQueued(tx: Tx, verificationId: string, now: Date, reason: string): void {
    this.repo.supersedeQueued(tx, verificationId, now, reason);
  }

  newerMessageExists(q: Queryable, verificationId: string, outboxId: string): Promise<boolean> {
    return this.repo.newerMessageExists(q, verificationId, outboxId);
  }

  /** The delivery state of the latest code message of each verification, for the verification object. */
  latestDeliveries(q: Queryable, verificationIds: string[]): Promise<Map<string, DeliveryState>> {
    return this.repo.latestDeliveries(q, verificationIds);
  }

  private queue(tx: Tx, row: OutboxRow, now: Date): { id: string } {
    row.created_at = now;
    this.repo.insert(tx, row, now);
    tx.afterCommit(() => this.dispatcher.dispatchSoon(row));
    return { id: row.id };
  }
}
