import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { newId } from '../common/ids';
import { SecretBox } from '../common/secret-box';
import { SqlParams } from '../common/sql';
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

  /** A message row and its INSERT (bind values through `p`), to run within a larger statement. */
  messageSql(
    args: { channel: 'sms' | 'voice'; verificationId: string; clientId: string; payload: MessagePayload; segments: number | null; now: Date },
    p: SqlParams['p'],
  ): { row: OutboxRow; sql: string } {
    const row: OutboxRow = {
      id: newId('msg'),
      kind: args.channel,
      verification_id: args.verificationId,
      client_id: args.clientId,
      payload: this.box.seal(args.payload),
      attempts: 1,
      max_attempts: this.config.gateway.messageMaxAttempts,
      segments: args.segments,
    };
    return { row, sql: this.insertSql(row, args.now, p) };
  }

  async enqueueWebhook(m: EntityManager, args: { verificationId: string; clientId: string; payload: WebhookPayload; now: Date }): Promise<OutboxRow> {
    const row: OutboxRow = {
      id: newId('whk'),
      kind: 'webhook',
      verification_id: args.verificationId,
      client_id: args.clientId,
      payload: this.box.seal(args.payload),
      attempts: 1,
      max_attempts: WEBHOOK_MAX_ATTEMPTS,
      segments: null,
    };
    const params = new SqlParams();
    await m.query(this.insertSql(row, args.now, params.p), params.values);
    return row;
  }

  private insertSql(row: OutboxRow, now: Date, p: SqlParams['p']): string {
    const at = p(now);
    return `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, attempts, max_attempts, next_attempt_at, locked_until, segments, created_at, updated_at)
            VALUES (${p(row.id)}, ${p(row.kind)}, ${p(row.verification_id)}, ${p(row.client_id)}, ${p(row.payload)}, 'sending', 1, ${p(row.max_attempts)}, ${at}, ${p(this.leaseEnd(now))}, ${p(row.segments)}, ${at}, ${at})`;
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
