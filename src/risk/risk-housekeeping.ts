import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AppConfig } from '../config/app-config';
import { Transactions } from '../database/transactions';
import { RiskSignalsRepository } from './risk-signals.repository';

const INTERVAL_MS = 10 * 60_000;
const BATCH = 5000;

/**
 * Keeps the unit counters small: every ten minutes each instance deletes what no rule reads any more (buckets
 * older than a day, days older than two weeks, accounts verified before the many-accounts window), in batches
 * so that no delete holds locks for long. Idempotent, so several instances may run it at once.
 */
@Injectable()
export class RiskHousekeeping implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RiskHousekeeping.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly repo: RiskSignalsRepository,
    private readonly transactions: Transactions,
    private readonly clock: Clock,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.prune().catch((err) => this.logger.error({ err }, 'pruning the risk counters failed')), INTERVAL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Deletes up to a few batches of stale rows; answers how many. Runs on a timer; tests call it directly. */
  prune(): Promise<number> {
    this.running ??= (async () => {
      let total = 0;
      for (let round = 0; round < 20; round++) {
        const n = await this.transactions.run((tx) => this.repo.prune(tx, this.clock.now(), this.config.risk.manyAccounts.windowMs, BATCH));
        total += n;
        if (n === 0) break;
      }
      return total;
    })().finally(() => (this.running = undefined));
    return this.running;
  }
}
