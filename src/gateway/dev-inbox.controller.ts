import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { Authenticated, CurrentPrincipal, Principal } from '../common/auth';
import { InvalidPhoneNumber, parsePhone } from '../common/phone';
import { ProblemException } from '../common/problem';
import { ApiProblem } from '../common/problem-docs';
import { DevInbox, InboxMessage } from './dev-inbox';

class DevMessagesQuery {
  @ApiPropertyOptional({ example: '+819012345678', maxLength: 32, description: 'Only the messages to this number.' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  phoneNumber?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value))
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
}

class DevMessageView {
  @ApiProperty({ example: '+819012345678' }) to!: string;
  @ApiProperty({ enum: ['sms', 'voice'], example: 'sms' }) channel!: string;
  @ApiProperty({ description: 'The full text, code included (development only).', example: '認証コード: 123456' }) body!: string;
  @ApiProperty({ example: 'vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) reference!: string;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:00:00.000Z' }) sentAt!: string;
}

class DevMessagePageView {
  @ApiProperty({ type: [DevMessageView] }) items!: DevMessageView[];
}

/** Exists only with the console provider outside production (GatewayModule mounts it conditionally). */
@ApiTags('development')
@Authenticated('verifications:write', 'admin')
@Controller('v1/dev/messages')
export class DevInboxController {
  constructor(private readonly inbox: DevInbox) {}

  @Get()
  @ApiOperation({
    operationId: 'listDevMessages',
    summary: 'Messages the console provider "sent" for the calling client, codes included (development only; 404 in any other configuration)',
    description: 'A client sees only the messages of its own verifications, whatever its scopes.',
  })
  @ApiOkResponse({ type: DevMessagePageView })
  @ApiProblem('validation_failed', 'limit out of 1-100, or an unknown parameter.')
  @ApiProblem('invalid_phone_number', 'phoneNumber is not a phone number.')
  list(@CurrentPrincipal() principal: Principal, @Query() q: DevMessagesQuery): { items: DevMessageView[] } {
    let to: string | undefined;
    if (q.phoneNumber) {
      try {
        to = parsePhone(q.phoneNumber).e164;
      } catch (err) {
        if (err instanceof InvalidPhoneNumber) throw new ProblemException(400, 'invalid_phone_number', `phoneNumber ${err.reason}.`);
        throw err;
      }
    }
    const view = ({ to: phone, channel, body, reference, sentAt }: InboxMessage): DevMessageView => ({ to: phone, channel, body, reference, sentAt });
    return { items: this.inbox.list(principal.clientId, to, q.limit ?? 20).map(view) };
  }
}
