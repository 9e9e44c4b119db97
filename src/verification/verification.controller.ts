import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuthedRequest, CurrentPrincipal, Principal, Authenticated } from '../common/auth';
import { ApiBodyProblems, ApiProblem } from '../common/problem-docs';
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
  @ApiOperation({ operationId: 'checkVerification', summary: 'Check a code: approved at most once; wrong codes count down to locked' })
  @ApiOkResponse({ type: CheckResultView, description: 'Right (valid true, approved) or wrong (valid false, one attempt less; locked at 0).' })
  @ApiBodyProblems('The code is not the digits of the right length, or a field is invalid or unknown: it costs no attempt.')
  @ApiProblem('not_found')
  @ApiProblem('verification_not_pending')
  @ApiProblem('conflict', 'The verification changed while it was being checked; retry.')
  @ApiProblem('rate_limited', 'Too many wrong codes for this number across verifications (`limit` phone_check_failures).')
  check(@CurrentPrincipal() principal: Principal, @Req() req: AuthedRequest, @IdParam('id') id: string, @Body() dto: CheckVerificationDto): Promise<CheckResultView> {
    return this.verifications.check({ principal, ip: req.ip ?? null }, id, dto);
  }
}
