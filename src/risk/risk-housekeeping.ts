import { Injectable, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { Housekeeping } from '../database/housekeeping';
import { Transactions } from '../database/transactions';
import { PhoneVelocityRepository } from './phone-velocity.repository';
import { RiskSignalsRepository } from './risk-signals.repository';

/**
 * Risk's share of housekeeping (database/housekeeping.ts runs it, one instance at a time): the per-number
 * velocity rows no rule reads any more (sends older than a day, wrong codes older than an hour, each with an
 * hour of margin) and the unit counters (buckets older than a day, days older than two weeks, end-user signals
 * older than two days, accounts verified before the many-accounts window). Each batch is one short transaction.
 */
@Injectable()
export class RiskHousekeeping implements OnModuleInit {
  constructor(
    private readonly housekeeping: Housekeeping,
    private readonly velocity: PhoneVelocityRepository,
    private readonly signals: RiskSignalsRepository,
    private readonly transactions: Transactions,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.housekeeping.register({ name: 'phone velocity', prune: (now, limit, cursor) => this.transactions.run((tx) => this.velocity.pruneExpired(tx, now, limit, cursor)) });
    this.housekeeping.register({
      name: 'risk unit counters',
      prune: (now, limit) => this.transactions.run((tx) => this.signals.prune(tx, now, this.config.risk.manyAccounts.windowMs, limit)),
    });
  }
}
