import { Controller, Get, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { Authenticated } from '../common/auth';
import { Clock } from '../common/clock';
import { maskPhone } from '../common/phone';
import { ProblemException } from '../common/problem';
import { ApiProblem } from '../common/problem-docs';
import { Transactions } from '../database/transactions';
import { VoiceContractRecordView } from './dto/voice-contract.views';
import { parseNumber } from './phone-numbers';
import { VoiceContractsService } from './voice-contracts.service';

@ApiTags('admin')
@Authenticated('admin')
@Controller('v1/admin/voice-contracts')
export class VoiceContractsController {
  constructor(
    private readonly voiceContracts: VoiceContractsService,
    private readonly transactions: Transactions,
    private readonly clock: Clock,
  ) {}

  @Get(':e164')
  @ApiOperation({
    operationId: 'getVoiceContract',
    summary: 'A number\'s voice-contract record: status, method, provider and call, checked and expiry times, and its checks' })
  @ApiParam({ name: 'e164', example: '+819012345678', description: 'The number in E.164 form (the + may be sent as %2B).' })
  @ApiOkResponse({ type: VoiceContractRecordView })
  @ApiProblem('invalid_phone_number', 'Not a valid number in E.164 form.')
  async get(@Param('e164') e164: string): Promise<VoiceContractRecordView> {
    const valid = (() => {
      try {
        return /^\+[1-9]\d{6,14}$/.test(e164) && parseNumber(e164).e164 === e164;
      } catch {
        return false;
      }
    })();
    if (!valid) throw new ProblemException(400, 'invalid_phone_number', 'The path must name a valid phone number in E.164 form (+819012345678).');
    const { current, history } = await this.voiceContracts.adminRecord(this.transactions.reader, e164, this.clock.now());
    const deciding = history.find((c) => c.id === current.checkId);
    return {
      phoneNumber: maskPhone(e164),
      status: current.status,
      method: current.method,
      provider: deciding?.provider ?? null,
      callId: deciding?.callId ?? null,
      checkedAt: current.checkedAt,
      expiresAt: current.expiresAt,
      history: history.map((c) => ({
        checkId: c.id,
        status: c.status,
        method: c.method,
        clientId: c.clientId,
        provider: c.provider,
        callId: c.callId,
        startedAt: c.createdAt.toISOString(),
        checkedAt: c.checkedAt?.toISOString() ?? null,
        expiresAt: c.expiresAt?.toISOString() ?? null,
        calls: c.calls,
      })),
    };
  }
}
