import { createHmac } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { httpPost, PostError } from '../common/http-post';
import { combineStatements, SqlParams } from '../common/sql';
import { AppConfig } from '../config/app-config';
import { MessagePayload, OutboxRow, OutboxService, WebhookPayload } from './outbox.service';
import { ProviderAccepted, ProviderError, SMS_GATEWAY, SmsGateway, VOICE_GATEWAY, VoiceGateway } from './ports';

type Outcome = { ok: true; accepted?: ProviderAccepted; statusCode?: number } | { ok: false; error: string; retryable: boolean; statusCode?: number; provider?: string };

/** Seconds to wait before try n+1 (index n-1); the last value repeats. */
const MESSAGE_BACKOFF_S = [2, 5, 15, 30, 60];
const WEBHOOK_BACKOFF_S = [10, 60, 300, 900, 1800, 3600, 7200, 14400];

export interface MessageFailure {
  outboxId: string;
  verificationId: string;
  channel: 'sms' | 'voice';
}
/** Called in the transaction that marks a message failed for good; returns the outbox rows it queued. */
export type MessageFailedHandler = (m: EntityManager, failure: MessageFailure) => Promise<OutboxRow[]>;

const CLAIM_COLUMNS = 'id, kind, verification_id, client_id, payload, attempts, max_attempts, segments';

/**
 * The outbox dispatcher (see OutboxService). A row is worked on only under a lease (status sending), so
 * any number of instances share the work and none sends a row twice:
 * - at once, in-process, right after the transaction that wrote it (already leased) commits (dispatchSoon);
 * - by polling: one atomic UPDATE … FOR UPDATE SKIP LOCKED claims rows due for a retry, and rows whose
 *   lease ran out because the instance that held them died before (or while) sending.
 * Every try is recorded in outbox_attempts; the final outcome writes an audit event.
 * A crash after a provider accepted a message but before the row was marked done sends it again once the
 * lease ends: delivery is at least once, and a resent message carries the same code.
 */
@Injectable()
export class OutboxDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxDispatcher.name);
  private timer?: NodeJS.Timeout;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly failureHandlers: MessageFailedHandler[] = [];
  private stopped = false;
  private polling = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
    @Inject(SMS_GATEWAY) private readonly sms: SmsGateway,
    @Inject(VOICE_GATEWAY) private readonly voice: VoiceGateway,
  ) {}

  onMessageFailed(handler: MessageFailedHandler): void {
    this.failureHandlers.push(handler);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.pollOnce().catch((err) => this.logger.error({ err }, 'outbox poll failed')), this.config.gateway.pollIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.inflight]);
  }

  /** Sends these rows now, in the background (called after the transaction that wrote them commits). */
  dispatchSoon(rows: OutboxRow[]): void {
    if (this.stopped) return; // the lease runs out and another instance's poller sends them
    for (const row of rows) this.track(this.process(row));
  }

  /** Claims and sends due rows; returns how many it handled. Runs on a timer; tests call it directly. */
  async pollOnce(limit = 50): Promise<number> {
    if (this.stopped || this.polling) return 0;
    this.polling = true;
    // Tracked as a whole, so that shutdown also waits for rows being claimed right now.
    const run = this.claimAndSend(limit);
    this.inflight.add(run);
    try {
      return await run;
    } finally {
      this.inflight.delete(run);
      this.polling = false;
    }
  }

  private async claimAndSend(limit: number): Promise<number> {
    const now = this.clock.now();
    const rows: OutboxRow[] = await this.db.query(
      `UPDATE outbox SET status = 'sending', attempts = attempts + 1, locked_until = $2, updated_at = $1
        WHERE id IN (SELECT id FROM outbox
                      WHERE (status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND locked_until < $1)
                      ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
        RETURNING ${CLAIM_COLUMNS}`,
      [now, this.outbox.leaseEnd(now), limit],
    ).then((r: [OutboxRow[], number]) => r[0]);
    await Promise.all(rows.map((row) => this.track(this.process(row))));
    return rows.length;
  }

  private track<T>(p: Promise<T>): Promise<T | undefined> {
    const guarded = p.catch((err) => {
      this.logger.error({ err }, 'outbox dispatch failed');
      return undefined;
    });
    this.inflight.add(guarded);
    void guarded.finally(() => this.inflight.delete(guarded));
    return guarded;
  }


  /**
   * The row is still ours: no other instance took it over after our lease ran out (a takeover bumps
   * `attempts`). Without this, a late outcome of ours could overwrite theirs, e.g. turn 'done' back into 'pending'.
   */
  private stillOurs(row: OutboxRow, p: SqlParams['p']): string {
    return `status = 'sending' AND attempts = ${p(row.attempts)}`;
  }

  private async attempt(row: OutboxRow): Promise<Outcome> {
    if (!row.payload) return { ok: false, error: 'payload missing', retryable: false };
    try {
      if (row.kind === 'webhook') return await this.postWebhook(this.outbox.box.open<WebhookPayload>(row.payload));
      const msg = this.outbox.box.open<MessagePayload>(row.payload);
      const accepted =
        row.kind === 'sms'
          ? await this.sms.send({ to: msg.to, body: msg.body, reference: row.id })
          : await this.voice.call({ to: msg.to, speech: msg.body, locale: msg.locale, reference: row.id });
      return { ok: true, accepted };
    } catch (err) {
      if (err instanceof ProviderError) return { ok: false, error: err.message, retryable: err.retryable, statusCode: err.statusCode, provider: err.provider };
      this.logger.error({ err, outboxId: row.id }, 'unexpected error while sending');
      return { ok: false, error: 'internal error', retryable: true };
    }
  }

  private async postWebhook(p: WebhookPayload): Promise<Outcome> {
    const t = Math.floor(this.clock.now().getTime() / 1000);
    const signature = createHmac('sha256', p.secret).update(`${t}.${p.body}`).digest('hex');
    try {
      const headers = { 'content-type': 'application/json', 'user-agent': 'otp-verify-webhooks/1', 'webhook-id': p.eventId, signature: `t=${t},v1=${signature}` };
      const res = await httpPost(p.url, headers, p.body, this.config.gateway.webhookTimeoutMs);
      return res.status >= 200 && res.status < 300 ? { ok: true, statusCode: res.status } : { ok: false, error: `HTTP ${res.status}`, retryable: true, statusCode: res.status };
    } catch (err) {
      const timeout = err instanceof PostError && err.reason === 'timeout';
      return { ok: false, error: timeout ? `timed out after ${this.config.gateway.webhookTimeoutMs} ms` : 'connection failed', retryable: true };
    }
  }

  private async process(row: OutboxRow): Promise<void> {
    const started = Date.now();
    const outcome = await this.attempt(row);
    const duration = Date.now() - started;
    const now = this.clock.now();
    const isWebhook = row.kind === 'webhook';
    const provider = outcome.ok ? (outcome.accepted?.provider ?? null) : (outcome.provider ?? null);
    const backoff = isWebhook ? WEBHOOK_BACKOFF_S : MESSAGE_BACKOFF_S;
    const final = !outcome.ok && !(outcome.retryable && row.attempts < row.max_attempts);
    const base = { actor: { type: 'system' as const, id: 'dispatcher' }, clientId: row.client_id, verificationId: row.verification_id };

    // The try, the row's new state and (once final) its audit event: one statement, one round trip.
    const params = new SqlParams();
    const { p } = params;
    const statements = [
      `INSERT INTO outbox_attempts (outbox_id, attempt, provider, ok, status_code, error, duration_ms, attempted_at)
       VALUES (${p(row.id)}, ${p(row.attempts)}, ${p(provider)}, ${p(outcome.ok)}, ${p(outcome.statusCode ?? null)}, ${p(outcome.ok ? null : outcome.error)}, ${p(duration)}, ${p(now)})`,
    ];
    if (outcome.ok) {
      statements.push(
        `UPDATE outbox SET status = 'done', payload = NULL, locked_until = NULL, last_error = NULL, delivery_status = 'sent',
                provider = ${p(provider)}, provider_message_id = ${p(outcome.accepted?.providerMessageId ?? null)}, updated_at = ${p(now)}
          WHERE id = ${p(row.id)} AND ${this.stillOurs(row, p)}`,
        this.audit.insertSql(
          [
            {
              ...base,
              type: isWebhook ? 'webhook.delivered' : 'message.sent',
              data: isWebhook
                ? { outboxId: row.id, attempt: row.attempts, statusCode: outcome.statusCode }
                : { outboxId: row.id, channel: row.kind, provider, providerMessageId: outcome.accepted?.providerMessageId, attempt: row.attempts, segments: row.segments },
            },
          ],
          p,
        ).sql,
      );
    } else if (!final) {
      const next = new Date(now.getTime() + backoff[Math.min(row.attempts - 1, backoff.length - 1)] * 1000);
      statements.push(
        `UPDATE outbox SET status = 'pending', locked_until = NULL, next_attempt_at = ${p(next)}, last_error = ${p(outcome.error)},
                provider = COALESCE(${p(provider)}, provider), updated_at = ${p(now)} WHERE id = ${p(row.id)} AND ${this.stillOurs(row, p)}`,
      );
    }
    if (!final) {
      await this.db.query(combineStatements(statements), params.values);
    } else {
      const failure = outcome as Extract<Outcome, { ok: false }>;
      const queued = await this.db.transaction(async (m) => {
        await m.query(statements[0], params.values);
        const [, changed]: [unknown[], number] = await m.query(
          `UPDATE outbox SET status = 'failed', payload = NULL, locked_until = NULL, last_error = $2, delivery_status = 'failed', provider = COALESCE($3, provider), updated_at = $4
            WHERE id = $1 AND status = 'sending' AND attempts = $5`,
          [row.id, failure.error, provider, now, row.attempts],
        );
        if (changed === 0) return []; // another instance took the row over after our lease ran out
        await this.audit.record(m, {
          ...base,
          type: isWebhook ? 'webhook.failed' : 'message.failed',
          data: { outboxId: row.id, attempts: row.attempts, error: failure.error, ...(isWebhook ? {} : { channel: row.kind, provider }) },
        });
        const rows: OutboxRow[] = [];
        if (isWebhook || !row.verification_id) return rows;
        for (const handler of this.failureHandlers) rows.push(...(await handler(m, { outboxId: row.id, verificationId: row.verification_id, channel: row.kind as 'sms' | 'voice' })));
        return rows;
      });
      this.dispatchSoon(queued);
    }
    if (!outcome.ok) this.logger.warn({ outboxId: row.id, kind: row.kind, attempt: row.attempts, error: outcome.error }, 'outbox send failed');
  }
}
