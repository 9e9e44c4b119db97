import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock';
import { AppConfig } from '../config/app-config';
import { OutboxDispatcher } from '../gateway/outbox.dispatcher';
import type { OutboxRow } from '../gateway/outbox.service';
import type { VerificationRow } from '../issuance/verification.store';
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
    @InjectDataSource() private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly verifications: VerificationService,
    private readonly dispatcher: OutboxDispatcher,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep().catch((err) => this.logger.error({ err }, 'expiry sweep failed')), this.config.otp.sweepIntervalMs);
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
    const { count, queued } = await this.db.transaction(async (m) => {
      const [rows]: [VerificationRow[], number] = await m.query(
        `UPDATE verifications SET status = 'expired', updated_at = $1
          WHERE id IN (SELECT id FROM verifications WHERE status IN ('pending', 'screening') AND expires_at <= $1
                        ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
          RETURNING *`,
        [now, batch],
      );
      const ids: OutboxRow[] = [];
      for (const row of rows) ids.push(...(await this.verifications.onExpired(m, row, now)));
      return { count: rows.length, queued: ids };
    });
    this.dispatcher.dispatchSoon(queued);
    return count;
  }
}
