import { Module } from '@nestjs/common';
import { IssuanceController } from './issuance.controller';
import { IssuanceService } from './issuance.service';
import { PhoneLimits } from './phone-limits';
import { AllowAllScreener, RISK_SCREENER } from './risk.port';
import { VerificationStore } from './verification.store';

@Module({
  controllers: [IssuanceController],
  providers: [IssuanceService, VerificationStore, PhoneLimits, { provide: RISK_SCREENER, useClass: AllowAllScreener }],
  exports: [IssuanceService, VerificationStore, PhoneLimits],
})
export class IssuanceModule {}
