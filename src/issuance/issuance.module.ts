import { Module } from '@nestjs/common';
import { RiskModule } from '../risk/risk.module';
import { CheckLimits } from './check-limits';
import { CodeHasher } from './code-hasher';
import { IdempotencyRepository } from './idempotency.repository';
import { IssuanceHousekeeping } from './issuance-housekeeping';
import { IssuanceController } from './issuance.controller';
import { IssuanceService } from './issuance.service';
import { MessageComposer } from './message-composer';
import { VerificationViews } from './verification-views';
import { VerificationsRepository } from './verifications.repository';

/**
 * Start, resend and cancel. Owns `verifications` (and its declared status transitions) and
 * `idempotency_keys`; exports the transition methods, the key ring and the views that checking needs.
 */
@Module({
  imports: [RiskModule],
  controllers: [IssuanceController],
  providers: [IssuanceService, VerificationsRepository, IdempotencyRepository, IssuanceHousekeeping, VerificationViews, CodeHasher, MessageComposer, CheckLimits],
  exports: [VerificationsRepository, VerificationViews, CodeHasher, CheckLimits],
})
export class IssuanceModule {}
