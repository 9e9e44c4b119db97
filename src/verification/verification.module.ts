import { Module } from '@nestjs/common';
import { IssuanceModule } from '../issuance/issuance.module';
import { ExpirySweeper } from './expiry-sweeper';
import { ResultWebhooks } from './result-webhooks';
import { VerificationController } from './verification.controller';
import { VerificationService } from './verification.service';

@Module({
  imports: [IssuanceModule],
  controllers: [VerificationController],
  providers: [VerificationService, ResultWebhooks, ExpirySweeper],
  exports: [VerificationService, ExpirySweeper],
})
export class VerificationModule {}
