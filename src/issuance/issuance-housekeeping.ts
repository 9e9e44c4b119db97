import { Injectable, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { Housekeeping } from '../database/housekeeping';
import { Transactions } from '../database/transactions';
import { IdempotencyRepository } from './idempotency.repository';
import { VerificationsRepository } from './verifications.repository';

/**
 * Issuance's share of housekeeping (database/housekeeping.ts runs it, one instance at a time): idempotency
 * keys past their 24 h, and final verifications older than VERIFICATION_RETENTION_DAYS (a verification still
 * screening or pending is never touched, whatever its age). Each batch is one autocommit DELETE.
 */
@Injectable()
export class IssuanceHousekeeping implements OnModuleInit {
  constructor(
    private readonly housekeeping: Housekeeping,
    private readonly idempotency: IdempotencyRepository,
    private readonly verifications: VerificationsRepository,
    private readonly transactions: Transactions,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.housekeeping.register({
      name: 'idempotency keys',
      prune: async (now, limit, cursor) => ({ idempotency_keys: await this.idempotency.pruneExpired(this.transactions.reader, now, limit, cursor) }),
    });
    this.housekeeping.register({
      name: 'final verifications',
      prune: async (now, limit, cursor) => ({
        verifications: await this.verifications.pruneFinal(this.transactions.reader, new Date(now.getTime() - this.config.issuance.verificationRetentionMs), limit, cursor),
      }),
    });
  }
}
