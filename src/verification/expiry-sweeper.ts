import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AppConfig } from '../config/app-config';
import { Transactions } from '../database/transactions';
import { VerificationsRepository } from '../issuance/verifications.repository';
import { VerificationService } from './verification.service';

/**
 * Marks open verifications past their expiry as expired, in batches claimed with SKIP LOCKED (so several
 * instances can sweep together), writing each one's audit event and verification.expired webhook.
 */
@Injectable()
export class ExpirySweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ExpirySweeper.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly transactions: Transactions,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly verifications: VerificationsRepository,
    private readonly service: VerificationService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep().catch((err) => this.logger.error({ err }, 'expiry sweep failed')), this.config.verification.sweepIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Expires due verifications; returns how many. Runs on a timer; tests call it directly. */
  sweep(batch = 200): Promise<number> {
    this.running ??= this.sweepBatch(batch).finally(() => (this.running = undefined));
    return this.running;
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
