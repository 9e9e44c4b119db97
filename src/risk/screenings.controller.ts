import { Body, Controller, Post, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuditService } from '../audit/audit.service';
import { Authenticated, AuthedRequest, CurrentPrincipal, Principal } from '../common/auth';
import { Clock } from '../common/clock';
import { ApiBodyProblems, ApiProblem } from '../common/problem-docs';
import { Transactions } from '../database/transactions';
import { ScreeningRequestDto, ScreeningView } from './dto/screening.dto';
import { assertReachable, parseNumberOrProblem } from './phone-numbers';
import { RiskService } from './risk.service';

@ApiTags('risk')
@Controller('v1/risk/screenings')
export class ScreeningsController {
  constructor(
    private readonly risk: RiskService,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  @Post()
  @Authenticated('risk:read')
  @ApiOperation({
    operationId: 'screenPhoneNumber',
    summary: 'Screen a phone number as a start would be screened, without starting a verification',
    description:
      'Every rule a start would apply, counting nothing: the client\'s number policy, the blocklist, the per-number velocity limits, the start limits per end-user IP, device, prefix and client ' +
      '(with endUser), SMS-pumping suspensions, many accounts per number, and the number\'s voice-contract record. Audited as risk.screened with the decision record.',
  })
  @ApiOkResponse({ type: ScreeningView })
  @ApiAcceptedResponse({ type: ScreeningView, description: 'startVoiceCheck started a check (voiceContract.status `checking`).' })
  @ApiBodyProblems()
  @ApiProblem('invalid_phone_number', 'Not a valid phone number.')
  @ApiProblem('unsupported_number_type', 'No number of this type can receive the channel (a fixed line takes no SMS; toll-free, navi dial and premium numbers reach no person).')
  async screen(
    @CurrentPrincipal() principal: Principal,
    @Req() req: AuthedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Body() dto: ScreeningRequestDto,
  ): Promise<ScreeningView> {
    const phone = parseNumberOrProblem(dto.phoneNumber, dto.country);
    const channel = dto.channel ?? 'sms';
    assertReachable(phone, channel);
    const { clientId, countries, numberTypes, voiceContract, pumping } = principal;
    const now = this.clock.now();
    const endUser = dto.endUser && { ip: dto.endUser.ip, deviceId: dto.endUser.deviceId, accountRef: dto.endUser.accountRef };
    const input = { phone, clientId, channel, purpose: dto.purpose ?? '', locale: dto.locale ?? 'ja', policy: { countries, numberTypes, voiceContract, pumping }, now, endUser } as const;
    const assessment = await this.transactions.run(async (tx) => {
      const result = await this.risk.assess(tx, input, { startVoiceCheck: dto.startVoiceCheck ?? false });
      this.audit.defer(tx, [
        {
          type: 'risk.screened',
          actor: { type: 'client', id: principal.keyId },
          clientId,
          phoneNumber: phone.e164,
          ip: req.ip ?? null,
          data: { risk: result, channel, purpose: dto.purpose ?? null, startVoiceCheck: dto.startVoiceCheck ?? false },
        },
      ]);
      return result;
    });
    const vc = assessment.voiceContract;
    reply.status(vc?.startedNow ? 202 : 200);
    return {
      phoneNumber: phone.e164,
      country: phone.country ?? null,
      numberType: phone.numberType,
      decision: assessment.decision,
      reasons: assessment.reasons,
      voiceContract: {
        status: vc?.status ?? 'none',
        method: vc?.method ?? null,
        checkedAt: vc?.checkedAt ?? null,
        expiresAt: vc?.expiresAt ?? null,
        ...(vc?.inboundCall ? { inboundCall: vc.inboundCall } : {}),
      },
    };
  }
}
