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

/**
 * Writes outbox rows inside the caller's transaction: a message or webhook is only ever sent for state
 * that committed. The plaintext a row needs (message text with its code, webhook secret) is sealed with
 * AES-GCM and wiped once the row is done. After commit, hand the ids to OutboxDispatcher.dispatchSoon().
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
  ): Promise<string> {
    const id = newId('msg');
    await m.query(
      `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, max_attempts, next_attempt_at, segments, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $7, $7)`,
      [id, args.channel, args.verificationId, args.clientId, this.box.seal(args.payload), this.config.gateway.messageMaxAttempts, args.now, args.segments],
    );
    return id;
  }

  async enqueueWebhook(m: EntityManager, args: { verificationId: string; clientId: string; payload: WebhookPayload; now: Date }): Promise<string> {
    const id = newId('whk');
    await m.query(
      `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, max_attempts, next_attempt_at, created_at, updated_at)
       VALUES ($1, 'webhook', $2, $3, $4, 'pending', $5, $6, $6, $6)`,
      [id, args.verificationId, args.clientId, this.box.seal(args.payload), WEBHOOK_MAX_ATTEMPTS, args.now],
    );
    return id;
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
