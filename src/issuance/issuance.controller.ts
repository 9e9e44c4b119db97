import { Body, Controller, Get, Headers, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuthedRequest, CurrentPrincipal, Principal, Authenticated } from '../common/auth';
import { CREDENTIAL_MESSAGE, looksLikeCredential } from '../common/input-text';
import { ProblemException, Problems } from '../common/problem';
import { ApiBodyProblems, ApiProblem } from '../common/problem-docs';
import { IdParam } from '../common/resource-id.pipe';
import { ResendVerificationDto, StartVerificationDto } from './dto/start-verification.dto';
import { SCREENING_EXAMPLE, VerificationView } from './dto/verification.view';
import { IssuanceService, RequestContext } from './issuance.service';

const ctx = (principal: Principal, req: AuthedRequest): RequestContext => ({ principal, ip: req.ip ?? null });

@ApiTags('verifications')
@Controller('v1/verifications')
export class IssuanceController {
  constructor(private readonly issuance: IssuanceService) {}

  @Post()
  @Authenticated('verifications:write')
  @ApiOperation({ operationId: 'startVerification', summary: 'Start a verification: screen the number and send a code' })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    schema: { type: 'string', minLength: 1, maxLength: 255, example: 'order-8812-otp-1' },
    description: 'A repeat with the same key and body within 24 h returns the first answer (same status and body) and sends nothing.',
  })
  @ApiCreatedResponse({ type: VerificationView, description: 'Code sent (status pending).' })
  @ApiAcceptedResponse({
    type: VerificationView,
    description: 'The number must pass a voice-contract check first (status screening): the code is sent only when screening allows it.',
    example: SCREENING_EXAMPLE,
  })
  @ApiBodyProblems('A field is missing, invalid or unknown, or the Idempotency-Key is empty or over 255 characters; nothing was sent.')
  @ApiProblem('invalid_phone_number')
  @ApiProblem('unsupported_number_type')
  @ApiProblem('risk_denied')
  @ApiProblem('rate_limited', 'A velocity limit on the number (`limit` phone_sends_15m or phone_sends_24h); `detail` names it.')
  @ApiProblem('idempotency_key_reused')
  @ApiProblem('idempotency_key_in_use')
  async start(
    @CurrentPrincipal() principal: Principal,
    @Req() req: AuthedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Body() dto: StartVerificationDto,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<VerificationView> {
    if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > 255)) {
      throw new ProblemException(400, 'validation_failed', 'Idempotency-Key must be 1 to 255 characters.', {
        errors: [{ field: 'Idempotency-Key', message: 'must be 1 to 255 characters' }],
      });
    }
    // The key is recorded in the audit trail, which must never hold one of our secrets.
    if (idempotencyKey !== undefined && looksLikeCredential(idempotencyKey)) {
      throw Problems.validation([{ field: 'Idempotency-Key', message: `Idempotency-Key ${CREDENTIAL_MESSAGE}` }]);
    }
    const result = await this.issuance.start(ctx(principal, req), dto, idempotencyKey);
    reply.status(result.status);
    return result.body;
  }

  @Get(':id')
  @Authenticated('verifications:write', 'verifications:check')
  @ApiOperation({ operationId: 'getVerification', summary: 'Read a verification (an expired pending one reads as expired)' })
  @ApiOkResponse({ type: VerificationView })
  @ApiProblem('not_found')
  get(@CurrentPrincipal() principal: Principal, @Req() req: AuthedRequest, @IdParam('id') id: string): Promise<VerificationView> {
    return this.issuance.get(ctx(principal, req), id);
  }

  @Post(':id/resend')
  @HttpCode(200)
  @Authenticated('verifications:write')
  @ApiOperation({ operationId: 'resendVerification', summary: 'Send a fresh code (the old one stops working); the attempt budget is not reset' })
  @ApiOkResponse({ type: VerificationView })
  @ApiBodyProblems()
  @ApiProblem('not_found')
  @ApiProblem('verification_not_pending')
  @ApiProblem('resend_too_soon')
  @ApiProblem('max_sends_reached')
  @ApiProblem('rate_limited', 'A velocity limit on the number (`limit` phone_sends_15m or phone_sends_24h); `detail` names it.')
  resend(
    @CurrentPrincipal() principal: Principal,
    @Req() req: AuthedRequest,
    @IdParam('id') id: string,
    @Body() dto: ResendVerificationDto = new ResendVerificationDto(),
  ): Promise<VerificationView> {
    return this.issuance.resend(ctx(principal, req), id, dto ?? {});
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Authenticated('verifications:write')
  @ApiOperation({ operationId: 'cancelVerification', summary: 'Cancel a verification: its code stops working' })
  @ApiOkResponse({ type: VerificationView, description: 'The verification, now canceled.' })
  @ApiProblem('not_found')
  @ApiProblem('verification_not_pending')
  cancel(@CurrentPrincipal() principal: Principal, @Req() req: AuthedRequest, @IdParam('id') id: string): Promise<VerificationView> {
    return this.issuance.cancel(ctx(principal, req), id);
  }
}
