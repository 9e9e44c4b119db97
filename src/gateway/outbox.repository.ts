import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Queryable, Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { PruneCursor } from '../database/housekeeping';
import { DELIVERY_RANK, DeliveryReceipt } from './delivery-receipts.types';
import { OUTBOX_KINDS, type OutboxKind, type Outcome, type OutboxRow } from './outbox.types';

/**
 * Of each kind ($2), since when its oldest row has been due and not sent by $1 (OutboxRepository.overdueSince): rows
 * waiting for a retry whose time has come, and rows being sent (`next_attempt_at` is when that attempt became due;
 * a first send's is its start), whether their instance is still at it or died with the lease. Each lookup reads one
 * index entry: the code messages' own index of due retries (outbox_due_messages_idx), so that webhooks due before them
 * are not walked; the webhooks' in outbox_due_idx; and the rows being sent, which are few (outbox_stuck_idx).
 */
export const OVERDUE_SQL = `SELECT k.kind, LEAST(
           CASE WHEN k.kind = 'webhook'
                THEN (SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending' AND kind = 'webhook' AND next_attempt_at <= $1)
                ELSE (SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending' AND kind <> 'webhook' AND kind = k.kind AND next_attempt_at <= $1) END,
           (SELECT min(next_attempt_at) FROM outbox WHERE status = 'sending' AND kind = k.kind AND locked_until IS NOT NULL)) AS since
      FROM unnest($2::text[]) AS k(kind)`;

const CLAIM_COLUMNS = 'id, kind, verification_id, client_id, payload, attempts, max_attempts, segments, created_at';

export interface DeliveryState {
  status: string;
  provider: string | null;
  attempts: number;
  updatedAt: string;
}

/**
 * All SQL on `outbox` and `outbox_attempts`. A row is worked on only under a lease (status `sending`); a
 * late outcome is written only while the row is still ours (`stillOurs`): a takeover by another instance
 * bumps `attempts`, so our late write cannot overwrite theirs (e.g. turn 'done' back into 'pending').
 */
@Injectable()
export class OutboxRepository {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly config: AppConfig,
  ) {}

  /** Long enough that a send still in progress (bounded by its budget over every provider, or its timeout) is never taken over. */
  leaseEnd(now: Date): Date {
    const g = this.config.gateway;
    return new Date(now.getTime() + 2 * Math.max(g.routing.budgetMs, g.timeoutMs, g.webhookTimeoutMs) + 5000);
  }

  /** Of each kind, since when its oldest row has been due and not sent (OVERDUE_SQL); null when none is. */
  async overdueSince(now: Date): Promise<Array<{ kind: OutboxKind; since: Date | null }>> {
    return this.db.query(OVERDUE_SQL, [now, OUTBOX_KINDS]);
  }

  /** Inserts the row already claimed by this instance (status sending, attempt 1, a lease): after commit it is sent with no claim. */
  insert(tx: Tx, row: OutboxRow, now: Date): void {
    tx.defer((p) => {
      const at = p(now);
      return `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, attempts, max_attempts, next_attempt_at, locked_until, segments, created_at, updated_at)
              VALUES (${p(row.id)}, ${p(row.kind)}, ${p(row.verification_id)}, ${p(row.client_id)}, ${p(row.payload)}, 'sending', 1, ${p(row.max_attempts)}, ${at}, ${p(this.leaseEnd(now))}, ${p(row.segments)}, ${at}, ${at})`;
    });
  }

  /** Inserts the row waiting (status pending, no try yet) until `due`, when any instance's poller claims it. */
  insertDue(tx: Tx, row: OutboxRow, due: Date, now: Date): void {
    tx.defer(
      (p) => `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, attempts, max_attempts, next_attempt_at, segments, created_at, updated_at)
              VALUES (${p(row.id)}, ${p(row.kind)}, ${p(row.verification_id)}, ${p(row.client_id)}, ${p(row.payload)}, 'pending', 0, ${p(row.max_attempts)}, ${p(due)}, ${p(row.segments)}, ${p(now)}, ${p(now)})`,
    );
  }

  /**
   * Claims rows due for a retry, and rows whose lease ran out (their instance died), in one atomic UPDATE;
   * not the webhooks of `skipWebhooksOf` (clients whose receivers already have their share of this instance).
   */
  async claimDue(now: Date, limit: number, skipWebhooksOf: string[] = []): Promise<OutboxRow[]> {
    const [rows]: [OutboxRow[], number] = await this.db.query(
      `UPDATE outbox SET status = 'sending', attempts = attempts + 1, locked_until = $2, updated_at = $1
        WHERE id IN (SELECT id FROM outbox
                      WHERE ((status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND locked_until < $1))
                        AND NOT (kind = 'webhook' AND client_id IS NOT NULL AND client_id = ANY($4))
                      ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
        RETURNING ${CLAIM_COLUMNS}`,
      [now, this.leaseEnd(now), limit, skipWebhooksOf],
    );
    return rows;
  }

  /** Puts a claimed row back to pending until `next`, its try not counted (a webhook held back by its client's cap). */
  async postpone(row: OutboxRow, next: Date, now: Date): Promise<void> {
    await this.db.query(
      `UPDATE outbox SET status = 'pending', attempts = attempts - 1, locked_until = NULL, next_attempt_at = $2, updated_at = $3
        WHERE id = $1 AND status = 'sending' AND attempts = $4`,
      [row.id, next, now, row.attempts],
    );
  }

  /** The try: one row per provider it reached when it was routed (`legs`, in order), else one row. */
  recordAttempt(tx: Tx, row: OutboxRow, outcome: Outcome, provider: string | null, durationMs: number, now: Date): void {
    const legs = outcome.ok ? outcome.accepted?.legs : outcome.legs;
    if (!legs?.length) {
      tx.defer(
        (p) => `INSERT INTO outbox_attempts (outbox_id, attempt, provider, ok, status_code, error, duration_ms, attempted_at)
                VALUES (${p(row.id)}, ${p(row.attempts)}, ${p(provider)}, ${p(outcome.ok)}, ${p(outcome.statusCode ?? null)}, ${p(outcome.ok ? null : outcome.error)}, ${p(durationMs)}, ${p(now)})`,
      );
      return;
    }
    tx.defer((p) => {
      const values = legs.map(
        (l, i) => `(${p(row.id)}, ${p(row.attempts)}, ${p(i)}, ${p(l.provider)}, ${p(l.outcome === 'accepted')}, ${p(l.outcome)}, ${p(l.statusCode)}, ${p(l.error)}, ${p(l.durationMs)}, ${p(now)})`,
      );
      return `INSERT INTO outbox_attempts (outbox_id, attempt, leg, provider, ok, outcome, status_code, error, duration_ms, attempted_at) VALUES ${values.join(', ')}`;
    });
  }

  /**
   * The row is done: sent, or (`unknown`) handed to a provider that timed out, with nothing more to be sent
   * (PROVIDER_ON_TIMEOUT=wait): its delivery stays `queued` until a receipt says otherwise. A receipt that came
   * before this (it can beat the provider's answer) is kept.
   */
  markDone(tx: Tx, row: OutboxRow, provider: string | null, providerMessageId: string | null, now: Date, unknown = false): void {
    tx.defer(
      (p) => `UPDATE outbox SET status = 'done', payload = NULL, locked_until = NULL, last_error = NULL,
                     delivery_status = CASE WHEN delivery_status IN ('delivered', 'undelivered', 'failed') THEN delivery_status ELSE ${p(unknown ? 'queued' : 'sent')} END,
                     provider = ${p(provider)}, provider_message_id = COALESCE(${p(providerMessageId)}, provider_message_id), updated_at = ${p(now)}
               WHERE id = ${p(row.id)} AND status = 'sending' AND attempts = ${p(row.attempts)}`,
    );
  }

  /** Puts the row back for a retry at `next`; a row superseded while this try was under way (no payload) is given up. */
  markRetry(tx: Tx, row: OutboxRow, error: string, provider: string | null, next: Date, now: Date): void {
    tx.defer(
      (p) => `UPDATE outbox SET status = CASE WHEN payload IS NULL THEN 'failed' ELSE 'pending' END,
                     delivery_status = CASE WHEN payload IS NULL THEN 'failed' ELSE delivery_status END,
                     locked_until = NULL, next_attempt_at = ${p(next)},
                     last_error = CASE WHEN payload IS NULL THEN last_error ELSE ${p(error)} END,
                     provider = COALESCE(${p(provider)}, provider), updated_at = ${p(now)}
               WHERE id = ${p(row.id)} AND status = 'sending' AND attempts = ${p(row.attempts)}`,
    );
  }

  /** Gives the row up; false when it is no longer ours (another instance took it over after our lease ran out). */
  async markFailed(tx: Tx, row: OutboxRow, error: string, provider: string | null, now: Date): Promise<boolean> {
    const [, changed]: [unknown[], number] = await tx.query(
      `UPDATE outbox SET status = 'failed', payload = NULL, locked_until = NULL, last_error = $2, delivery_status = 'failed', provider = COALESCE($3, provider), updated_at = $4
        WHERE id = $1 AND status = 'sending' AND attempts = $5`,
      [row.id, error, provider, now, row.attempts],
    );
    return changed > 0;
  }

  /**
   * Applies a verified receipt to its code message when it moves the delivery forward (DELIVERY_RANK): never back,
   * never twice. Only the provider that has the message (or, while it is being sent, any: a retry's receipt can beat
   * the writing of its outcome, and the row then still names the provider of the try that failed) moves it, and only
   * for the provider's own message id once that is known. The changed row, or null when nothing changed.
   */
  async applyReceipt(
    tx: Tx,
    r: DeliveryReceipt,
    now: Date,
  ): Promise<{ id: string; kind: 'sms' | 'voice'; verification_id: string | null; client_id: string | null } | null> {
    const rank = (expr: string) => `(CASE ${expr} ${Object.entries(DELIVERY_RANK).map(([s, n]) => `WHEN '${s}' THEN ${n}`).join(' ')} END)`;
    const [rows]: [Array<{ id: string; kind: 'sms' | 'voice'; verification_id: string | null; client_id: string | null }>, number] = await tx.query(
      `UPDATE outbox SET delivery_status = $3, provider_message_id = COALESCE(provider_message_id, $4), updated_at = $5
        WHERE id = $1 AND kind IN ('sms', 'voice')
          AND (status = 'sending' OR provider IS NULL OR provider = $2)
          AND (provider_message_id IS NULL OR $4::text IS NULL OR provider_message_id = $4)
          AND ${rank('delivery_status')} < ${rank('$3::text')}
        RETURNING id, kind, verification_id, client_id`,
      [r.outboxId, r.provider, r.status, r.providerMessageId, now],
    );
    return rows[0] ?? null;
  }

  /**
   * The verification's code messages that have not gone out are not sent (a newer code replaced theirs, or it ended):
   * one waiting for a retry is given up now; one being sent keeps its try under way, but loses its payload, so that a
   * retryable failure of that try gives it up (markRetry) instead of sending the old code later, as does a takeover.
   */
  supersedeQueued(tx: Tx, verificationId: string, now: Date, reason: string): void {
    tx.defer(
      (p) => `UPDATE outbox SET status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END,
                     delivery_status = CASE WHEN status = 'pending' THEN 'failed' ELSE delivery_status END,
                     payload = NULL, last_error = ${p(reason)}, updated_at = ${p(now)}
               WHERE verification_id = ${p(verificationId)} AND kind IN ('sms', 'voice') AND status IN ('pending', 'sending')`,
    );
  }

  /** Whether the verification has a code message queued after this one (a resend). */
  async newerMessageExists(q: Queryable, verificationId: string, outboxId: string): Promise<boolean> {
    const rows: unknown[] = await q.query(
      `SELECT 1 FROM outbox o WHERE o.verification_id = $1 AND o.kind IN ('sms', 'voice') AND o.id <> $2
          AND o.created_at > (SELECT created_at FROM outbox WHERE id = $2) LIMIT 1`,
      [verificationId, outboxId],
    );
    return rows.length > 0;
  }

  /** The delivery state of the latest code message of each verification. */
  async latestDeliveries(q: Queryable, verificationIds: string[]): Promise<Map<string, DeliveryState>> {
    if (verificationIds.length === 0) return new Map();
    const rows: Array<{ verification_id: string; delivery_status: string; provider: string | null; attempts: number; updated_at: Date }> = await q.query(
      `SELECT DISTINCT ON (verification_id) verification_id, delivery_status, provider, attempts, updated_at
         FROM outbox WHERE verification_id = ANY($1) AND kind IN ('sms', 'voice')
        ORDER BY verification_id, created_at DESC, id DESC`,
      [verificationIds],
    );
    return new Map(
      rows.map((r) => [r.verification_id, { status: r.delivery_status, provider: r.provider, attempts: r.attempts, updatedAt: r.updated_at.toISOString() }]),
    );
  }

  /**
   * Housekeeping: deletes at most `limit` finished rows (done or failed: no send, retry or takeover will touch
   * them again) created before `before`, with their attempts, in one statement; rows a receipt is updating right
   * now are skipped (next run). Through outbox_finished_created_idx and the attempts' primary key.
   */
  async pruneFinished(before: Date, limit: number, cursor = new PruneCursor()): Promise<{ outbox: number; outbox_attempts: number }> {
    // oldest first from where this pass got to (see PruneCursor: the scan does not walk again what it deleted)
    const [{ last, ...row }]: Array<{ outbox: number; outbox_attempts: number; last: Date | null }> = await this.db.query(
      `WITH doomed AS (
         SELECT id, created_at FROM outbox WHERE status IN ('done', 'failed') AND created_at >= $3 AND created_at < $1
          ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
       ), attempts AS (
         DELETE FROM outbox_attempts WHERE outbox_id IN (SELECT id FROM doomed) RETURNING 1
       ), rows AS (
         DELETE FROM outbox WHERE id IN (SELECT id FROM doomed) RETURNING 1
       )
       SELECT (SELECT count(*) FROM rows)::int AS outbox, (SELECT count(*) FROM attempts)::int AS outbox_attempts, (SELECT max(created_at) FROM doomed) AS last`,
      [before, limit, cursor.from('outbox')],
    );
    cursor.reached('outbox', last);
    return row;
  }
}
