import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, QueryRunner } from 'typeorm';
import { Clock } from '../common/clock';
import { AppConfig } from '../config/app-config';
import { chainEvents, ChainLink } from './audit-chain';
import { AuditEventRow, EVENT_COLUMNS, fromRow } from './audit-rows';

const RESCAN_EVERY = 20;

/** pg_try_advisory_xact_lock key of the sequencer: any constant, the same in every instance. */
export const SEQUENCER_LOCK_KEY = 7_351_829_340_517;

/**
 * The single writer of the chain. Every instance runs one; each tick tries a transaction-scoped advisory
 * lock and only the holder works, so at any moment one sequencer chains, whichever instance it is in,
 * and a crashed one leaves nothing to clean up (the lock goes with its transaction).
 *
 * Ordering: a tick takes every event that is visible and not chained yet (`seq IS NULL`), ordered by
 * (occurred_at, id), and appends them after the head. An event becomes visible only when its business
 * transaction commits, and every visible unchained event is taken, so an event whose transaction commits
 * late is never skipped: it is simply chained in a later batch, after events that committed before it.
 * No insertion-order watermark is needed. The chain order is therefore "order of chaining", which is
 * commit order at batch granularity; occurred_at orders events within a batch.
 */
@Injectable()
export class AuditSequencer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('AuditSequencer');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;
  private failures = 0;
  /**
   * While catching up on a backlog (full batches), the next batch starts after the last event chained
   * instead of at the start of the pending index, which otherwise is full of entries of already chained rows
   * until vacuum and makes each batch slower than the one before. Events that commit late with an earlier
   * key are not lost: as soon as a batch is not full, or every RESCAN_EVERY batches, a tick scans from the start.
   */
  private resumeAfter?: { occurredAt: Date; id: string };
  private resumedBatches = 0;

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
   * Chains one batch of pending events if this instance gets the lock. Returns how many it chained
   * (0 when another instance holds the lock or nothing is pending). Tests and the bench call it directly.
   */
  async chainPending(batchSize = this.config.audit.sequencer.batchSize): Promise<number> {
    const after = this.resumeAfter && this.resumedBatches < RESCAN_EVERY ? this.resumeAfter : undefined;
    const qr = this.db.createQueryRunner();
    await qr.connect();
    try {
      await qr.startTransaction();
      try {
        const { chained, last } = await this.chainBatch(qr, batchSize, after);
        await qr.commitTransaction();
        if (chained >= batchSize && last) {
          this.resumedBatches = after ? this.resumedBatches + 1 : 1;
          this.resumeAfter = last;
        } else {
          this.resumeAfter = undefined; // caught up (or a rescan is due): the next tick scans from the start
          this.resumedBatches = 0;
        }
        return chained;
      } catch (err) {
        await qr.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    } finally {
      await qr.release();
    }
  }

  /** Chains until nothing is pending (or `timeoutMs` passes); returns how many it chained. */
  async drain(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let total = 0;
    for (;;) {
      const n = await this.chainPending();
      total += n;
      if (n === 0 && !this.resumeAfter) {
        const [{ pending }] = await this.db.query(`SELECT EXISTS (SELECT 1 FROM audit_events WHERE seq IS NULL) AS pending`);
        if (!pending) return total;
        // another instance holds the lock, or events are arriving: wait a little
        await new Promise((r) => setTimeout(r, 20));
      }
      if (Date.now() > deadline) throw new Error('audit sequencer could not drain the pending events in time');
    }
  }

  private async chainBatch(
    qr: QueryRunner,
    batchSize: number,
    after?: { occurredAt: Date; id: string },
  ): Promise<{ chained: number; last?: { occurredAt: Date; id: string } }> {
    const [{ locked }] = await qr.query(`SELECT pg_try_advisory_xact_lock($1) AS locked`, [SEQUENCER_LOCK_KEY]);
    if (!locked) return { chained: 0 };
    // The head row is also locked, so that even without the advisory lock two sequencers could not fork the chain.
    const [head] = await qr.query(`SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE`);
    const rows: AuditEventRow[] = after
      ? await qr.query(
          `SELECT ${EVENT_COLUMNS} FROM audit_events WHERE seq IS NULL AND (occurred_at, id) > ($2, $3)
            ORDER BY occurred_at, id LIMIT $1`,
          [batchSize, after.occurredAt, after.id],
        )
      : await qr.query(`SELECT ${EVENT_COLUMNS} FROM audit_events WHERE seq IS NULL ORDER BY occurred_at, id LIMIT $1`, [batchSize]);
    if (rows.length === 0) return { chained: 0 };
    const start: ChainLink = { seq: Number(head.seq), hash: head.hash };
    const linked = chainEvents(start, rows.map(fromRow));
    const result = await qr.query(
      `UPDATE audit_events AS e SET seq = v.seq, prev_hash = decode(v.prev_hash, 'hex'), hash = decode(v.hash, 'hex')
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS v(id, seq, prev_hash, hash)
        WHERE e.id = v.id AND e.seq IS NULL`,
      [linked.map((e) => e.id), linked.map((e) => String(e.seq)), linked.map((e) => e.prevHash.toString('hex')), linked.map((e) => e.hash.toString('hex'))],
      true,
    );
    if (result.affected !== linked.length) throw new Error(`audit sequencer chained ${result.affected} of ${linked.length} events; rolled back`);
    const last = linked[linked.length - 1];
    await qr.query(`UPDATE audit_chain_head SET seq = $1, hash = $2, updated_at = $3 WHERE id = 1`, [String(last.seq), last.hash, this.clock.now()]);
    return { chained: linked.length, last: { occurredAt: last.occurredAt, id: last.id } };
  }
}
