import { Module } from '@nestjs/common';
import { ApprovalFolding } from './approval-folding';
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
import { EndUserHasher } from './end-user';
import { RiskHousekeeping } from './risk-housekeeping';
import { RiskSignalsRepository } from './risk-signals.repository';
import { SuspensionsController } from './suspensions.controller';
import { SuspensionsRepository } from './suspensions.repository';
import { SuspensionsService } from './suspensions.service';
import { VelocityScreening } from './velocity-screening';

/**
 * Phone-number risk: screening of every start (number policy, the admins' blocklist, the per-number velocity
 * rules, then the velocity, SMS-pumping and many-accounts rules over counters per unit, and
 * voice-contract checks through IVR (`voice_contract_checks`, admin routes: /v1/admin/voice-contracts; POST /v1/risk/screenings). Owns `phone_sends`, `phone_check_failures`, `blocklist` (admin routes: /v1/admin/blocklist), the
 * unit counters `risk_unit_counts`, `risk_unit_days`, `risk_end_users`, `risk_number_accounts`, `risk_approvals`, and
 * `risk_suspensions` (admin routes: /v1/admin/suspensions).
 */
@Module({
  controllers: [BlocklistController, ScreeningsController, SuspensionsController, VoiceContractsController],
  providers: [
    BlocklistRepository,
    BlocklistService,
    PhoneVelocityRepository,
    PhoneVelocity,
    EndUserHasher,
    RiskSignalsRepository,
    ApprovalFolding,
    SuspensionsRepository,
    SuspensionsService,
    VelocityScreening,
    RiskHousekeeping,
    VoiceContractsRepository,
    VoiceContractsService,
    RiskService,
    { provide: RISK_SCREENER, useExisting: RiskService },
  ],
  exports: [RISK_SCREENER, SuspensionsService],
})
export class RiskModule {}
