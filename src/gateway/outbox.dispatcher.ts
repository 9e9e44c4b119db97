import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { isDatabaseUnavailable, isTransactionConflict } from '../common/problem.filter';
import { AppConfig } from '../config/app-config';
import { Transactions } from '../database/transactions';
import { OutboxRepository } from './outbox.repository';
import { Outcome, OUTBOX_SENDERS, OutboxKind, OutboxRow, OutboxSender } from './outbox.types';

/** How long a webhook held back by its client's cap waits before it is claimed again. */
const WEBHOOK_POSTPONE_MS = 1000;

/**
 * Writing down a try's outcome is tried again through a short database fault (a statement timeout, a lost connection,
 * a conflict with another transaction): a row left `sending` is sent again once its lease runs out, a second SMS or
 * call. Three writes, about 0.5 and 1 s apart (jittered). Each write is one statement or one transaction, so a failed
 * one left nothing, unless the database committed it and only its answer was lost: the repeat then meets the try's
 * own row in outbox_attempts (its primary key; only the row's holder writes its try number) and is taken as written.
 * An error of another kind (the write itself refused) is not tried again, nor is any once the instance shuts down.
 */
const transient = (err: unknown) => isDatabaseUnavailable(err) || isTransactionConflict(err);
const OUTCOME_RETRIES = 2;
const OUTCOME_WRITES = retry(handleWhen(transient), { maxAttempts: OUTCOME_RETRIES, backoff: new ExponentialBackoff({ initialDelay: 500, maxDelay: 2000 }) });

/**
 * Sends outbox rows, each through the sender of its kind. A row is worked on only under a lease (status
 * sending), so any number of instances share the work and none sends a row twice:
 * - at once, in-process, right after the transaction that wrote it (already leased) commits (dispatchSoon);
 * - by polling: one atomic UPDATE … FOR UPDATE SKIP LOCKED claims rows due for a retry, and rows whose
 *   lease ran out because the instance that held them died before (or while) sending.
 * Every try is recorded in outbox_attempts; the final outcome writes an audit event.
 * Webhooks are capped per client (WEBHOOK_CONCURRENCY_PER_CLIENT in flight per instance) and do not hold the
 * next poll, so a slow receiver delays only its own client's deliveries.
 * A crash after a provider accepted a message but before the row was marked done sends it again once the
 * lease ends: delivery is at least once, and a resent message carries the same code.
 */
@Injectable()
export class OutboxDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OutboxDispatcher.name);
  private readonly senders = new Map<OutboxKind, OutboxSender>();
  private timer?: NodeJS.Timeout;
  private readonly inflight = new Set<Promise<unknown>>();
  private stopped = false;
  private polling = false;
  /** Webhook deliveries in flight in this instance, per client. */
  private readonly webhooksInFlight = new Map<string, number>();

  constructor(
    private readonly transactions: Transactions,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly repo: OutboxRepository,
    private readonly audit: AuditService,
    @Inject(OUTBOX_SENDERS) senders: OutboxSender[],
  ) {
    for (const sender of senders) for (const kind of sender.kinds) this.senders.set(kind, sender);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.pollOnce().catch((err) => this.logger.error({ err }, 'outbox poll failed')), this.config.gateway.pollIntervalMs);
    this.timer.unref();
  }

  /**
   * Stops taking rows and waits until every send in progress has finished and recorded its outcome. The app
   * calls it once the HTTP server has closed (the last requests may still have queued sends) and before the
   * modules close: the pool must outlive the sends, or a row stays `sending` and is sent again after its lease.
   */
  async drain(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.drain();
  }

  /** Sends this row now, in the background (called after the transaction that wrote it commits). */
  dispatchSoon(row: OutboxRow): void {
    if (this.stopped) return; // the lease runs out and another instance's poller sends it
    void this.track(this.dispatch(row));
  }

  /** Claims and sends due rows; returns how many it handled. Runs on a timer; tests call it directly. */
  async pollOnce(limit = 50): Promise<number> {
    if (this.stopped || this.polling) return 0;
    this.polling = true;
    // Tracked as a whole, so that shutdown also waits for rows being claimed right now.
    const run = this.claimAndSend(limit);
    this.inflight.add(run);
    let batch: { claimed: number; webhooks: Array<Promise<unknown>> };
    try {
      batch = await run;
    } finally {
      this.inflight.delete(run);
      this.polling = false;
    }
    await Promise.all(batch.webhooks); // the next poll does not wait for them; the caller of this one does
    return batch.claimed;
  }

  private async claimAndSend(limit: number): Promise<{ claimed: number; webhooks: Array<Promise<unknown>> }> {
    const rows = await this.repo.claimDue(this.clock.now(), limit, this.clientsAtWebhookCap());
    const sends = rows.map((row) => ({ kind: row.kind, sent: this.track(this.dispatch(row)) }));
    // A slow webhook receiver holds back its own client's deliveries (capped), never the next poll.
    await Promise.all(sends.filter((s) => s.kind !== 'webhook').map((s) => s.sent));
    return { claimed: rows.length, webhooks: sends.filter((s) => s.kind === 'webhook').map((s) => s.sent) };
  }

  private clientsAtWebhookCap(): string[] {
    const cap = this.config.gateway.webhookConcurrencyPerClient;
    return [...this.webhooksInFlight].filter(([, n]) => n >= cap).map(([client]) => client);
  }

  /**
   * Sends the row, unless it is a webhook of a client that already has its cap of deliveries in flight here:
   * that row goes back to pending for a moment, its try not counted.
   */
  private async dispatch(row: OutboxRow): Promise<void> {
    const client = row.kind === 'webhook' ? row.client_id : null;
    if (client === null) return this.process(row);
    const inFlight = this.webhooksInFlight.get(client) ?? 0;
    if (inFlight >= this.config.gateway.webhookConcurrencyPerClient) {
      const now = this.clock.now();
      return this.repo.postpone(row, new Date(now.getTime() + WEBHOOK_POSTPONE_MS), now);
    }
    this.webhooksInFlight.set(client, inFlight + 1);
    try {
      await this.process(row);
    } finally {
      const left = (this.webhooksInFlight.get(client) ?? 1) - 1;
      if (left > 0) this.webhooksInFlight.set(client, left);
      else this.webhooksInFlight.delete(client);
    }
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

  /** One try through the row's sender; anything it throws is a retryable 'internal error', recorded like any failure. */
  private async attempt(sender: OutboxSender, row: OutboxRow): Promise<Outcome> {
    if (!row.payload) return { ok: false, error: 'not sent: superseded (a newer code, or the verification ended) while an earlier try was under way', retryable: false };
    try {
      return await sender.send(row as OutboxRow & { payload: Buffer });
    } catch (err) {
      this.logger.error({ err, outboxId: row.id, kind: row.kind }, 'unexpected error while sending');
      return { ok: false, error: 'internal error', retryable: true };
    }
  }

  private async process(row: OutboxRow): Promise<void> {
    const sender = this.senders.get(row.kind);
    if (!sender) throw new Error(`no outbox sender for kind ${row.kind}`);
    if (row.attempts > row.max_attempts) return this.giveUpUnrecorded(sender, row);
    const started = performance.now();
    const outcome = await this.attempt(sender, row);
    const duration = Math.round(performance.now() - started);
    const now = this.clock.now();
    const provider = outcome.ok ? (outcome.accepted?.provider ?? null) : (outcome.provider ?? null);
    const actor = { actor: { type: 'system' as const, id: 'dispatcher' }, clientId: row.client_id, verificationId: row.verification_id };

    if (outcome.ok) {
      // The try, the row's new state and its audit event: one statement, one round trip.
      await this.writeOutcome(row, () =>
        this.transactions.statement((tx) => {
          this.repo.recordAttempt(tx, row, outcome, provider, duration, now);
          this.repo.markDone(tx, row, provider, outcome.accepted?.providerMessageId ?? null, now, outcome.accepted?.unknown ?? false);
          this.audit.defer(tx, [Object.assign({}, actor, sender.auditEvent(row, outcome))]);
        }),
      );
      if (outcome.followUp) await outcome.followUp();
      return;
    }
    this.logger.warn({ outboxId: row.id, kind: row.kind, attempt: row.attempts, error: outcome.error }, 'outbox send failed');
    if (outcome.retryable && row.attempts < row.max_attempts) {
      const backoff = sender.backoffSeconds;
      const delayMs = sender.retryDelayMs?.(row.attempts, outcome) ?? backoff[Math.min(row.attempts - 1, backoff.length - 1)] * 1000;
      const next = new Date(now.getTime() + delayMs);
      await this.writeOutcome(row, () =>
        this.transactions.statement((tx) => {
          this.repo.recordAttempt(tx, row, outcome, provider, duration, now);
          this.repo.markRetry(tx, row, outcome.error, provider, next, now);
        }),
      );
      return;
    }
    await this.writeOutcome(row, () =>
      this.transactions.run(async (tx) => {
        this.repo.recordAttempt(tx, row, outcome, provider, duration, now);
        if (!(await this.repo.markFailed(tx, row, outcome.error, provider, now))) return; // another instance took the row over
        await this.audit.record(tx, Object.assign({}, actor, sender.auditEvent(row, outcome)));
        await sender.onGivenUp?.(tx, row, now, outcome);
      }),
    );
  }

  private writeOutcome(row: OutboxRow, write: () => Promise<void>): Promise<void> {
    return OUTCOME_WRITES.execute(async ({ attempt }) => {
      if (attempt > 0 && this.stopped) throw new Error('the outcome of a try was not written: the instance is shutting down (the row is taken over after its lease)');
      try {
        return await write();
      } catch (err) {
        if (attempt > 0 && isThisTryRecorded(err)) return; // the earlier write committed; its answer was lost
        if (attempt < OUTCOME_RETRIES && transient(err)) {
          this.logger.warn({ err, outboxId: row.id, kind: row.kind }, 'writing a send\'s outcome failed; trying again');
        }
        throw err;
      }
    });
  }

  /**
   * A takeover counts as a try: a row whose outcome could never be written down (it stayed `sending` until its lease
   * ran out, again and again) is given up past its tries instead of being sent once per lease for ever. Whether its
   * last try reached anyone is not known, so nothing is concluded from it: its verification is not failed (the person
   * may hold the code; the caller can resend) and a check call is not judged (the check's own window bounds it).
   */
  private async giveUpUnrecorded(sender: OutboxSender, row: OutboxRow): Promise<void> {
    const now = this.clock.now();
    const outcome: Outcome = { ok: false, error: `given up: ${row.max_attempts} tries, and the outcome of the last one was never recorded (its lease ran out)`, retryable: false };
    this.logger.error({ outboxId: row.id, kind: row.kind, attempts: row.attempts - 1 }, 'outbox row given up: the outcome of its tries could not be recorded');
    await this.transactions.run(async (tx) => {
      if (!(await this.repo.markFailed(tx, row, outcome.error, null, now))) return; // another instance took the row over
      await this.audit.record(tx, { actor: { type: 'system', id: 'dispatcher' }, clientId: row.client_id, verificationId: row.verification_id, ...sender.auditEvent(row, outcome) });
    });
  }
}

/** The try's own row is already in outbox_attempts (a unique violation of its primary key). */
function isThisTryRecorded(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown; driverError?: { code?: unknown; constraint?: unknown } };
  const pg = e.driverError ?? e;
  return pg.code === '23505' && pg.constraint === 'outbox_attempts_pkey';
}
