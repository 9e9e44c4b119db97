import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { newId } from '../common/ids';
import { SecretBox } from '../common/secret-box';
import { AppConfig } from '../config/app-config';

export interface MessagePayload {
  to: string;
  body: string;
  locale: 'ja' | 'en';
}

export interface WebhookPayload {
  url: string;
  secret: string;
  body: string;
  eventId: string;
  type: string;
}

export const WEBHOOK_MAX_ATTEMPTS = 9;

/** An outbox row as the dispatcher works on it. */
export interface OutboxRow {
  id: string;
  kind: 'sms' | 'voice' | 'webhook';
  verification_id: string | null;
  client_id: string | null;
  payload: Buffer | null;
  attempts: number;
  max_attempts: number;
  segments: number | null;
}

/**
 * Writes outbox rows inside the caller's transaction: a message or webhook is only ever sent for state
 * that committed. The plaintext a row needs (message text with its code, webhook secret) is sealed with
 * AES-GCM and wiped once the row is done. A row is written already claimed by this instance (status
 * sending, attempt 1, a lease), so after commit the caller hands it to OutboxDispatcher.dispatchSoon()
 * with no further claim; if this instance dies first, the lease runs out and any instance's poller takes it.
 */
@Injectable()
export class OutboxService {
  readonly box: SecretBox;

  constructor(private readonly config: AppConfig) {
    this.box = new SecretBox(config.otpHmacKeys);
  }

  async enqueueMessage(
    m: EntityManager,
    args: { channel: 'sms' | 'voice'; verificationId: string; clientId: string; payload: MessagePayload; segments: number | null; now: Date },
  ): Promise<OutboxRow> {
    return this.insert(m, {
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

  async enqueueWebhook(m: EntityManager, args: { verificationId: string; clientId: string; payload: WebhookPayload; now: Date }): Promise<OutboxRow> {
    return this.insert(m, {
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

  private async insert(m: EntityManager, row: OutboxRow, now: Date): Promise<OutboxRow> {
    await m.query(
      `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, attempts, max_attempts, next_attempt_at, locked_until, segments, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 'sending', 1, $6, $7, $8, $9, $7, $7)`,
      [row.id, row.kind, row.verification_id, row.client_id, row.payload, row.max_attempts, now, this.leaseEnd(now), row.segments],
    );
    return row;
  }

  /** Long enough that a send still in progress (bounded by its timeout) is never taken over. */
  leaseEnd(now: Date): Date {
    const g = this.config.gateway;
    return new Date(now.getTime() + 2 * Math.max(g.timeoutMs, g.webhookTimeoutMs) + 5000);
  }

  /** The delivery state of the latest message of each verification, for the verification object. */
  async latestDeliveries(m: EntityManager, verificationIds: string[]): Promise<Map<string, DeliveryView>> {
    if (verificationIds.length === 0) return new Map();
    const rows: Array<{ verification_id: string; delivery_status: string; provider: string | null; attempts: number; updated_at: Date }> = await m.query(
      `SELECT DISTINCT ON (verification_id) verification_id, delivery_status, provider, attempts, updated_at
         FROM outbox WHERE verification_id = ANY($1) AND kind IN ('sms', 'voice')
        ORDER BY verification_id, created_at DESC, id DESC`,
      [verificationIds],
    );
    return new Map(
      rows.map((r) => [r.verification_id, { status: r.delivery_status, provider: r.provider, attempts: r.attempts, updatedAt: r.updated_at.toISOString() }]),
    );
  }
}

export interface DeliveryView {
  status: string;
  provider: string | null;
  attempts: number;
  updatedAt: string;
}
