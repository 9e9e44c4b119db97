import { Module } from '@nestjs/common';
import { PhoneVelocity } from './phone-velocity';
import { PhoneVelocityRepository } from './phone-velocity.repository';
import { RISK_SCREENER } from './risk.port';
import { RiskService } from './risk.service';

/**
 * Phone-number risk: screening of every start (today: the per-number velocity rules; policy, blocklist,
 * pumping rules and voice-contract checks come next). Owns `phone_sends` and `phone_check_failures`.
 */
@Module({
  providers: [PhoneVelocityRepository, PhoneVelocity, RiskService, { provide: RISK_SCREENER, useExisting: RiskService }],
  exports: [RISK_SCREENER],
})
export class RiskModule {}
