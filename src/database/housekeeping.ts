import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Counter, Metric } from 'prom-client';
import { Clock } from '../common/clock';
import { SerialRuns } from '../common/serial-runs';
import type { Queryable } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { Transactions } from './transactions';

/** The advisory lock held by the one instance pruning at a time (Transactions.exclusively). */
export const HOUSEKEEPING_LOCK_KEY = 7_351_829_340_519;

/** How far back a pass starts from where this instance's last pass got to (see PruneCursor.rewind). */
export const PRUNE_REWIND_MS = 24 * 3600_000;
/** How often a pass starts at the oldest row again instead (see PruneCursor.rewind). */
export const PRUNE_FULL_PASS_MS = 24 * 3600_000;

/**
 * Where a task got to in each table it prunes oldest first: the newest time it has deleted there. The next batch's
 * index scan starts at that time instead of at the oldest entry, so it does not walk again the index entries of the
 * rows already deleted (dead until VACUUM removes them). Without it, the last batch of a pass over a 30-day backlog
 * of 10 million rows walked 9.7 million dead entries and ran past the statement timeout, failing the pass, and so
 * did the next passes until autovacuum had cleaned the index. Kept per task for the life of the instance.
 */
export class PruneCursor {
  private readonly at = new Map<string, Date>();
  /** When a pass last started at the oldest row (the first pass of the instance does). */
  private fullPassAt?: number;

  /**
   * At the start of a pass (at `now`): back PRUNE_REWIND_MS from where the last one got to, for rows that became
   * prunable since behind that point (a verification or outbox row that reached its final status later, a time
   * written by another instance's clock). Those finish within hours of their creation, far inside a day.
   * Once every PRUNE_FULL_PASS_MS the pass starts at the oldest row instead: a row that a batch skipped because
   * another transaction held it stays behind the cursor, and would otherwise stay until the instance restarts.
   * By then the index entries of the rows deleted behind the cursor are long cleaned by VACUUM.
   */
  rewind(now: Date): void {
    if (this.fullPassAt === undefined || now.getTime() - this.fullPassAt >= PRUNE_FULL_PASS_MS) {
      this.at.clear();
      this.fullPassAt = now.getTime();
      return;
    }
    for (const [table, at] of this.at) this.at.set(table, new Date(at.getTime() - PRUNE_REWIND_MS));
  }

  /** The time from which `table`'s next batch scans (the epoch at first). */
  from(table: string): Date {
    return this.at.get(table) ?? new Date(0);
  }

  /** Records the newest time a batch deleted in `table` (null: it deleted nothing). */
  reached(table: string, last: Date | null): void {
    if (last) this.at.set(table, last);
  }

  /**
   * Deletes at most `limit` rows of `table` whose `column` is before `before` (and `where` holds), oldest first from
   * where this pass got to, through the index on `column`; moves the cursor; answers how many went. Times read back
   * have millisecond precision, at or below the stored microseconds, so no row is stepped over.
   * The rows are locked before they are deleted, and a row another transaction holds is skipped (a later pass
   * takes it if it is still spent, at the latest the next full one: `rewind`): an idempotency key being claimed
   * again has its time moved to now, and the DELETE by ctid must not depend on the server re-checking the time of
   * the version it waited for.
   */
  async deleteOldest(q: Queryable, table: string, column: string, before: Date, limit: number, where = 'TRUE'): Promise<number> {
    const [{ n, last }]: Array<{ n: number; last: Date | null }> = await q.query(
      `WITH d AS (
         DELETE FROM ${table} WHERE ctid = ANY(ARRAY(
           SELECT ctid FROM ${table} WHERE ${where} AND ${column} >= $3 AND ${column} < $1 ORDER BY ${column} LIMIT $2
             FOR UPDATE SKIP LOCKED))
         RETURNING ${column} AS at)
       SELECT count(*)::int AS n, max(at) AS last FROM d`,
      [before, limit, this.from(table)],
    );
    this.reached(table, last);
    return n;
  }
}

/**
 * One kind of spent row, pruned by the module that owns its table, through its own repository. `prune` deletes
 * at most `limit` rows of what no longer serves any purpose at `now` (one short transaction, or one statement)
 * and answers how many rows went, per table (a task may take dependent rows with it: outbox attempts). The
 * scheduler calls it again while some table of the batch lost `limit` rows (more may be left), with the task's
 * own `cursor` (rewound at the start of each pass).
 */
export interface HousekeepingTask {
  /** For logs: what it prunes. */
  name: string;
  prune(now: Date, limit: number, cursor: PruneCursor): Promise<Record<string, number>>;
}

export interface HousekeepingRun {
  /** False when another instance held the lock (this one pruned nothing). */
  ran: boolean;
  pruned: Record<string, number>;
  batches: number;
  ms: number;
}

/** Registered in no registry here: the application adds them to its own (app.factory.ts), as tests run several instances in one process. */
export class HousekeepingMetrics {
  readonly pruned = new Counter({
    name: 'otp_housekeeping_pruned_rows_total',
    help: 'Spent operational rows deleted by housekeeping, by table',
    labelNames: ['table'] as const,
    registers: [],
  });
  readonly runs = new Counter({
    name: 'otp_housekeeping_runs_total',
    help: 'Housekeeping runs of this instance: ran (held the lock), skipped (another instance held it), failed',
    labelNames: ['result'] as const,
    registers: [],
  });
  get all(): Metric[] {
    return [this.pruned, this.runs];
  }
}

/**
 * Keeps the operational tables from growing without end. One scheduler per instance wakes every
 * HOUSEKEEPING_INTERVAL_SECONDS, takes a PostgreSQL advisory lock (Transactions.exclusively: an instance that does
 * not get it skips the run), and runs each registered task in
 * batches of HOUSEKEEPING_BATCH_SIZE rows until a batch comes back short. Every batch is its own short
 * statement or transaction, so no lock is held for long and live traffic interleaves. The owners register
 * their tasks at start (issuance: idempotency keys, final verifications; gateway: finished outbox rows;
 * risk: velocity counters); this module knows no table but its own.
 */
@Injectable()
export class Housekeeping implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Housekeeping');
  private readonly tasks: HousekeepingTask[] = [];
  private readonly cursors = new Map<HousekeepingTask, PruneCursor>();
  readonly metrics = new HousekeepingMetrics();
  private timer?: NodeJS.Timeout;
  private readonly runs = new SerialRuns<HousekeepingRun>();
  private stopping = false;

  constructor(
    private readonly transactions: Transactions,
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  /** Owners call this from onModuleInit. */
  register(task: HousekeepingTask): void {
    this.tasks.push(task);
  }

  onApplicationBootstrap(): void {
    if (!this.config.housekeeping.enabled) return;
    this.timer = setInterval(() => void this.runs.tick(() => this.logged()).catch(() => undefined), this.config.housekeeping.intervalMs);
    this.timer.unref();
  }

  /**
   * A run under way stops before its next batch. Here, not at application shutdown: the pool closes there, in the
   * global TypeORM module's hook, which Nest may run before this global module's, and the run's next batch would fail.
   */
  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.runs.idle();
  }

  /**
   * One run (skipped when another instance holds the lock) that starts after the call (SerialRuns.now: one under way
   * may have read the clock first). The timer's runs are the same; tests call it directly.
   */
  runOnce(): Promise<HousekeepingRun> {
    return this.runs.now(() => this.logged());
  }

  private logged(): Promise<HousekeepingRun> {
    return this.run().then(
      (r) => {
        this.metrics.runs.inc({ result: r.ran ? 'ran' : 'skipped' });
        if (r.ran) this.logger.log({ pruned: r.pruned, batches: r.batches, ms: r.ms }, `housekeeping pruned ${Object.values(r.pruned).reduce((a, b) => a + b, 0)} rows`);
        else this.logger.debug('housekeeping skipped: another instance holds the lock');
        return r;
      },
      (err: unknown) => {
        this.metrics.runs.inc({ result: 'failed' });
        this.logger.error({ err }, 'housekeeping run failed');
        throw err;
      },
    );
  }

  private async run(): Promise<HousekeepingRun> {
    const started = Date.now();
    const pruned: Record<string, number> = {};
    let batches = 0;
    const run = await this.transactions.exclusively(HOUSEKEEPING_LOCK_KEY, async (held) => {
      const now = this.clock.now();
      const limit = this.config.housekeeping.batchSize;
      for (const task of this.tasks) {
        const cursor = this.cursors.get(task) ?? new PruneCursor();
        this.cursors.set(task, cursor);
        cursor.rewind(now);
        for (;;) {
          if (this.stopping) break;
          // Another instance may take the lock now: stop rather than prune beside it (the next run goes on).
          if (!held()) throw new Error('housekeeping lost its lock (its database connection ended): this run stopped before its next batch');
          const counts = await task.prune(now, limit, cursor);
          batches++;
          for (const [table, n] of Object.entries(counts)) {
            pruned[table] = (pruned[table] ?? 0) + n;
            if (n) this.metrics.pruned.inc({ table }, n);
          }
          if (!Object.values(counts).some((n) => n >= limit)) break;
        }
      }
    });
    return { ran: run.ran, pruned, batches, ms: Date.now() - started };
  }
}
