import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { AuthedRequest, CurrentPrincipal, Principal, Authenticated } from '../common/auth';
import { IdParam } from '../common/resource-id.pipe';
import { CheckResultView, CheckVerificationDto } from './dto/check.dto';
import { VerificationService } from './verification.service';

@ApiTags('verifications')
@Controller('v1/verifications')
export class VerificationController {
  constructor(private readonly verifications: VerificationService) {}

  @Post(':id/check')
  @HttpCode(200)
  @Authenticated('verifications:check')
  @ApiOperation({ summary: 'Check a code: approved at most once; wrong codes count down to locked' })
  @ApiOkResponse({ type: CheckResultView })
  @ApiResponse({ status: 400, description: 'problem+json `validation_failed`: not the digits of the right length (costs no attempt).' })
  @ApiResponse({ status: 409, description: 'problem+json `verification_not_pending`, with `verificationStatus` (approved, locked, expired…).' })
  check(@CurrentPrincipal() principal: Principal, @Req() req: AuthedRequest, @IdParam('id') id: string, @Body() dto: CheckVerificationDto): Promise<CheckResultView> {
    return this.verifications.check({ principal, ip: req.ip ?? null }, id, dto);
  }
}
