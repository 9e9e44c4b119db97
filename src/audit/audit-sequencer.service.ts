import { setImmediate as nextTurn } from 'node:timers/promises';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, QueryRunner } from 'typeorm';
import { Clock } from '../common/clock';
import { AppConfig } from '../config/app-config';
import { ChainedEvent, linkEventsInSlices } from './audit-chain';
import { AuditEventRow, EVENT_COLUMNS, fromRow, INSERT_LINKS_SQL, insertLinksParams } from './audit-rows';

/** How many times (2 ms apart) a tick checks whether the transactions that may fill a hole have finished. */
const SETTLE_POLLS = 25;
/** After this long waiting for such transactions, the sequencer warns (once a minute). */
const SLOW_SETTLE_MS = 10_000;

/** pg_try_advisory_xact_lock key of the sequencer: any constant, the same in every instance. */
export const SEQUENCER_LOCK_KEY = 7_351_829_340_517;

/**
 * The single writer of the chain. Every instance runs one; each tick tries a transaction-scoped advisory
 * lock and only the holder works, so at any moment one sequencer chains, whichever instance it is in,
 * and a crashed one leaves nothing to clean up (the lock goes with its transaction).
 *
 * Ordering: every event gets its `seq` when it is inserted (audit_next_seq(), in the business transaction),
 * and the chain follows seq. Numbers are handed out before their transactions commit, and some roll back, so
 * the committed events may show holes. A tick chains the committed events after the head in seq order, up to
 * the first hole it cannot explain: a hole may be a transaction still in flight, which will commit later.
 * To explain holes, the sequencer reads the last number handed out, L, then takes a transaction id of its own,
 * M; a transaction holding a number up to L got its transaction id before its number (audit_next_seq), so
 * before M, and ids are handed out in increasing order: its id is below M. Once no transaction with an id below
 * M is running (the oldest running id, a snapshot's xmin, is past M), every hole up to L is a number that was
 * rolled back, for good, and the chain steps over it. (A snapshot taken after reading L would not do: its xmax is
 * one past the newest *finished* transaction, so a transaction newer than every finished one is neither in its
 * list nor below its xmax, and it would pass for finished.) No lock is taken on the write path, and events are
 * never updated: the links go to audit_chain.
 */
@Injectable()
export class AuditSequencer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('AuditSequencer');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;
  private failures = 0;
  /** Every number up to this one is committed or rolled back for good. */
  private settledThrough = 0;
  /** A pending check: once no transaction with an id below `marker` is running, numbers up to `last` are settled. */
  private settling?: { last: number; marker: string; since: number };
  private lastSlowWarning = 0;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.audit.sequencer.enabled) this.schedule(0);
  }

  /** Stops the loop and waits for a tick in progress, before the connection pool closes. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const tick = this.chainPending();
      this.running = tick;
      tick.then(
        (chained) => {
          this.failures = 0;
          // A full batch means a backlog: go on at once instead of waiting an interval.
          this.schedule(chained >= this.config.audit.sequencer.batchSize ? 0 : this.config.audit.sequencer.intervalMs);
        },
        (err: unknown) => {
          this.failures++;
          if (!this.stopped) this.logger.warn({ err }, 'audit sequencer tick failed; retrying');
          this.schedule(Math.min(this.config.audit.sequencer.intervalMs * 2 ** this.failures, 10_000));
        },
      );
    }, delayMs);
  }

  /**
   * Chains one batch of committed events if this instance gets the lock. Returns how many it chained
   * (0 when another instance holds the lock or nothing can be chained yet). Tests and the bench call it directly.
   */
  async chainPending(batchSize = this.config.audit.sequencer.batchSize, retry = true): Promise<number> {
    const qr = this.db.createQueryRunner();
    await qr.connect();
    let result: { chained: number; blocked: boolean };
    try {
      await qr.startTransaction();
      try {
        result = await this.chainBatch(qr, batchSize);
        await qr.commitTransaction();
      } catch (err) {
        await qr.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    } finally {
      await qr.release();
    }
    // Stopped at a hole: find out (outside the transaction) whether it is a number rolled back for good.
    if (result.blocked && (await this.settle()) && result.chained === 0 && retry) return this.chainPending(batchSize, false);
    return result.chained;
  }

  /** Chains until nothing is pending (or `timeoutMs` passes); returns how many it chained. */
  async drain(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let total = 0;
    for (;;) {
      const n = await this.chainPending();
      total += n;
      if (n === 0) {
        if ((await this.pendingCount()) === 0) return total;
        // another instance holds the lock, or a transaction holding a number is still open: wait a little
        await new Promise((r) => setTimeout(r, 20));
      }
      if (Date.now() > deadline) throw new Error('audit sequencer could not drain the pending events in time');
    }
  }

  /** Committed events not chained yet. */
  async pendingCount(): Promise<number> {
    const [{ n }] = await this.db.query(`SELECT count(*)::int AS n FROM audit_events WHERE seq > (SELECT seq FROM audit_chain_head WHERE id = 1)`);
    return n;
  }

  /**
   * Advances settledThrough when the transactions that may hold the numbers handed out so far have all
   * finished. Waits a little for them (they are short), else leaves the check pending for the next tick.
   * Returns whether it advanced.
   */
  private async settle(): Promise<boolean> {
    if (!this.settling) {
      // In a transaction that writes nothing (so its commit need not wait for a WAL flush): the last number, then, in
      // the next statement, an id handed out after it was read.
      this.settling = await this.db.transaction(async (m) => {
        await m.query(`SET LOCAL synchronous_commit = off`);
        const [{ last }] = await m.query(`SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS last FROM audit_event_seq`);
        const [{ marker }] = await m.query(`SELECT pg_current_xact_id()::text AS marker`);
        return { last: Number(last), marker: marker as string, since: Date.now() };
      });
    }
    const { last, marker, since } = this.settling;
    for (let polls = 0; ; polls++) {
      const [{ settled }] = await this.db.query(`SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8 AS settled`, [marker]);
      if (settled) {
        this.settledThrough = Math.max(this.settledThrough, last);
        this.settling = undefined;
        return true;
      }
      if (polls >= SETTLE_POLLS || this.stopped) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    if (Date.now() - since > SLOW_SETTLE_MS && Date.now() - this.lastSlowWarning > 60_000) {
      this.lastSlowWarning = Date.now();
      this.logger.warn(
        `audit sequencer has waited ${Math.round((Date.now() - since) / 1000)} s for transactions open since seq ${last} was handed out; events after the first missing number are chained when they end`,
      );
    }
    return false;
  }

  private async chainBatch(qr: QueryRunner, batchSize: number): Promise<{ chained: number; blocked: boolean }> {
    const [{ locked }] = await qr.query(`SELECT pg_try_advisory_xact_lock($1) AS locked`, [SEQUENCER_LOCK_KEY]);
    if (!locked) return { chained: 0, blocked: false };
    // The head row is also locked, so that even without the advisory lock two sequencers could not fork the chain.
    const [head] = await qr.query(`SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE`);
    const rows: AuditEventRow[] = await qr.query(`SELECT ${EVENT_COLUMNS} FROM audit_events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2`, [head.seq, batchSize]);
    // Committed events in order, up to the first hole that may still be filled by a transaction in flight.
    const ready: ChainedEvent[] = [];
    let prev = Number(head.seq);
    for (const row of rows) {
      const e = fromRow(row);
      if (e.seq !== prev + 1 && e.seq - 1 > this.settledThrough) break;
      ready.push(e);
      prev = e.seq;
    }
    const blocked = ready.length < rows.length;
    if (ready.length === 0) return { chained: 0, blocked };
    // hashed in slices with the event loop's turn between them: a catch-up's large batch does not stall requests
    const linked = await linkEventsInSlices(head.hash as Buffer, ready, () => nextTurn());
    await qr.query(INSERT_LINKS_SQL, insertLinksParams(linked));
    const last = linked[linked.length - 1];
    await qr.query(`UPDATE audit_chain_head SET seq = $1, hash = $2, updated_at = $3 WHERE id = 1`, [String(last.seq), last.hash, this.clock.now()]);
    return { chained: linked.length, blocked };
  }
}
