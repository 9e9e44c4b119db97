import { Module } from '@nestjs/common';
import { BlocklistController } from './blocklist.controller';
import { BlocklistRepository } from './blocklist.repository';
import { BlocklistService } from './blocklist.service';
import { PhoneVelocity } from './phone-velocity';
import { PhoneVelocityRepository } from './phone-velocity.repository';
import { RISK_SCREENER } from './risk.port';
import { RiskService } from './risk.service';
import { ScreeningsController } from './screenings.controller';
import { VoiceContractsRepository } from './voice-contracts.repository';
import { VoiceContractsController } from './voice-contracts.controller';
import { VoiceContractsService } from './voice-contracts.service';

/**
 * Phone-number risk: screening of every start (number policy, the admins' blocklist, the per-number velocity
 * rules; pumping rules and voice-contract checks come next). Owns `phone_sends`, `phone_check_failures` and
 * `blocklist` (admin routes: /v1/admin/blocklist).
 */
@Module({
  controllers: [BlocklistController, ScreeningsController, VoiceContractsController],
  providers: [BlocklistRepository, BlocklistService, PhoneVelocityRepository, PhoneVelocity, VoiceContractsRepository, VoiceContractsService, RiskService, { provide: RISK_SCREENER, useExisting: RiskService }],
  exports: [RISK_SCREENER],
})
export class RiskModule {}
