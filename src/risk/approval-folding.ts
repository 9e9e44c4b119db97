import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../common/clock';
import { SerialRuns } from '../common/serial-runs';
import type { Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { Transactions } from '../database/transactions';
import { RiskSignalsRepository } from './risk-signals.repository';

/** pg_try_advisory_xact_lock key of the folder: any constant, the same in every instance. */
export const APPROVALS_FOLD_LOCK_KEY = 7_351_829_340_521;
/** Approvals, and shard rows, per fold transaction. */
const BATCH = 5000;

/**
 * Counts verified codes for the pumping rules off the check's path. A check appends its approval to
 * `risk_approvals` (RiskSignalsRepository.countApproval: one row of its own, so concurrent checks share no row
 * lock); every RISK_APPROVALS_FOLD_INTERVAL_MS one instance (a transaction-scoped advisory lock: the others skip
 * the tick) moves them into the unit counters in batches, each batch one transaction that deletes the rows it adds,
 * so an approval is counted exactly once whatever crashes. The rules see a verified code at most an interval late,
 * which errs towards suspending (fewer verified codes, lower thresholds), never towards missing pumping. The
 * many-accounts rule does not wait: the number's account is recorded in the check's own transaction.
 *
 * The same tick, under the same lock but in transactions of its own, sums the shard rows of the buckets that have
 * closed into one row per bucket (RiskSignalsRepository.collapseShards), so that screening's read of a day of a busy
 * country or prefix stays about 150 rows however many shards its starts were spread over.
 */
@Injectable()
export class ApprovalFolding implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('ApprovalFolding');
  private timer?: NodeJS.Timeout;
  private readonly runs = new SerialRuns<number>();
  private stopped = false;
  private failing = false;
  private collapseFailing = false;

  constructor(
    private readonly transactions: Transactions,
    private readonly repo: RiskSignalsRepository,
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.runs.tick(() => this.logged()).catch(() => undefined), this.config.risk.approvalsFoldIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a fold in progress, before the connection pool closes; what is left waits for the next instance. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.runs.idle();
  }

  /**
   * Folds every approval committed before the call (unless another instance is folding: it skips), in a fold that
   * starts after the call (SerialRuns.now); answers how many that fold took. Tests call it directly.
   */
  foldNow(): Promise<number> {
    return this.runs.now(() => this.logged());
  }

  private logged(): Promise<number> {
    return this.fold().then(
      (n) => {
        if (this.failing) this.logger.log('folding approvals into the unit counters works again');
        this.failing = false;
        return n;
      },
      (err: unknown) => {
        // once per outage: the rows wait in risk_approvals, nothing is lost
        if (!this.failing) this.logger.warn({ err }, 'folding approvals into the unit counters failed; retrying every interval');
        this.failing = true;
        throw err;
      },
    );
  }

  /** The approvals, then the closed buckets' shard rows (whose failure is its own: nothing waits on it, the reads sum the shards meanwhile). */
  private async fold(): Promise<number> {
    try {
      return await this.inBatches((tx) => this.repo.foldApprovals(tx, BATCH));
    } finally {
      await this.collapseClosedBuckets();
    }
  }

  private async collapseClosedBuckets(): Promise<void> {
    const now = this.clock.now();
    try {
      // one batch a tick (~0.1 s at most), so that the next tick's approvals never wait behind a long backlog, such as
      // the first day's after an upgrade; a closing bucket brings at most 7 rows per unit that had starts in it
      await this.inBatches((tx) => this.repo.collapseShards(tx, now, BATCH), 1);
      if (this.collapseFailing) this.logger.log("summing the closed buckets' shard rows works again");
      this.collapseFailing = false;
    } catch (err) {
      if (!this.collapseFailing) this.logger.warn({ err }, "summing the closed buckets' shard rows failed (screening sums them meanwhile); retrying every interval");
      this.collapseFailing = true;
    }
  }

  /**
   * `work` in transactions of up to BATCH rows each, under the folder's lock (another instance holding it: nothing
   * done), until a batch is not full or `maxBatches` have run.
   */
  private async inBatches(work: (tx: Tx) => Promise<number>, maxBatches = Infinity): Promise<number> {
    let total = 0;
    for (let batches = 0; batches < maxBatches && !this.stopped; batches++) {
      const n = await this.transactions.run(async (tx) => {
        const [{ locked }] = await tx.query(`SELECT pg_try_advisory_xact_lock($1) AS locked`, [APPROVALS_FOLD_LOCK_KEY]);
        return locked ? work(tx) : 0;
      });
      total += n;
      if (n < BATCH) break;
    }
    return total;
  }
}
