import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../common/clock';
import { SerialRuns } from '../common/serial-runs';
import { AppConfig } from '../config/app-config';
import { Transactions } from '../database/transactions';
import { VerificationsRepository } from '../issuance/verifications.repository';
import { VerificationService } from './verification.service';

/** Verifications one batch (one transaction) expires. */
const BATCH_SIZE = 200;
/**
 * Batches one sweep runs at most, one after another while each comes back full: 2,000 verifications per sweep, so
 * 400/s per instance at the default interval of 5 s (one batch a sweep capped expiry at 40/s per instance, fewer than
 * a payment backend's abandoned verifications at a bank's peak). The cap keeps a backlog (after an outage) from
 * holding a connection and the CPU away from requests for long at a time.
 */
const MAX_BATCHES = 10;

/**
 * Marks open verifications past their expiry as expired, in batches claimed with SKIP LOCKED (so several
 * instances can sweep together), writing each one's audit event and verification.expired webhook.
 */
@Injectable()
export class ExpirySweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ExpirySweeper.name);
  private timer?: NodeJS.Timeout;
  private readonly runs = new SerialRuns<number>();
  private stopping = false;

  constructor(
    private readonly transactions: Transactions,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly verifications: VerificationsRepository,
    private readonly service: VerificationService,
  ) {}

  onApplicationBootstrap(): void {
    const tick = () => this.runs.tick(() => this.drain(BATCH_SIZE, MAX_BATCHES));
    this.timer = setInterval(() => void tick().catch((err) => this.logger.error({ err }, 'expiry sweep failed')), this.config.verification.sweepIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stopping = true;
    await this.runs.idle();
  }

  /**
   * Expires what is due at the call, `batch` at a time while a batch comes back full, `maxBatches` at most, in a
   * sweep that starts after the call (SerialRuns.now: one under way may have read the clock first); returns how many.
   * The timer's sweeps are the same with the defaults; tests call it directly.
   */
  sweep(batch = BATCH_SIZE, maxBatches = MAX_BATCHES): Promise<number> {
    return this.runs.now(() => this.drain(batch, maxBatches));
  }

  private async drain(batch: number, maxBatches: number): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches && !this.stopping; i++) {
      const n = await this.sweepBatch(batch);
      total += n;
      if (n < batch) break;
    }
    return total;
  }

  private async sweepBatch(batch: number): Promise<number> {
    const now = this.clock.now();
    return this.transactions.run(async (tx) => {
      const rows = await this.verifications.expireDue(tx, now, batch);
      for (const row of rows) await this.service.onExpired(tx, row, now);
      return rows.length;
    });
  }
}
