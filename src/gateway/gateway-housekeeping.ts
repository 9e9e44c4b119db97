import { Injectable, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { Housekeeping } from '../database/housekeeping';
import { OutboxRepository } from './outbox.repository';
import { VoiceCallsRepository } from './voice-calls.repository';

/**
 * The gateway's share of housekeeping (database/housekeeping.ts runs it, one instance at a time): finished
 * outbox rows (done or failed) with their attempts, and IVR call records, once older than OUTBOX_RETENTION_DAYS
 * (at least 3 days: past the 72 h an SMS may wait for delivery, so its receipt still finds its row, and far past
 * any open verification's life). `provider_send_windows` holds one row per provider and channel: nothing to prune.
 */
@Injectable()
export class GatewayHousekeeping implements OnModuleInit {
  constructor(
    private readonly housekeeping: Housekeeping,
    private readonly outbox: OutboxRepository,
    private readonly calls: VoiceCallsRepository,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const before = (now: Date) => new Date(now.getTime() - this.config.gateway.outboxRetentionMs);
    this.housekeeping.register({ name: 'finished outbox rows', prune: (now, limit, cursor) => this.outbox.pruneFinished(before(now), limit, cursor) });
    this.housekeeping.register({ name: 'voice calls', prune: async (now, limit) => ({ voice_calls: await this.calls.pruneBefore(before(now), limit) }) });
  }
}
