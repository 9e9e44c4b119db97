import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { Authenticated, CurrentPrincipal, Principal } from '../common/auth';
import { InvalidPhoneNumber, parsePhone } from '../common/phone';
import { ProblemException } from '../common/problem';
import { DevInbox, InboxMessage } from './dev-inbox';

class DevMessagesQuery {
  @ApiPropertyOptional({ example: '+819012345678' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  phoneNumber?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value))
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
}

class DevMessageView {
  @ApiProperty() to!: string;
  @ApiProperty({ enum: ['sms', 'voice'] }) channel!: string;
  @ApiProperty({ description: 'The full text, code included (development only).' }) body!: string;
  @ApiProperty() reference!: string;
  @ApiProperty() sentAt!: string;
}

/** Exists only with the console provider outside production (GatewayModule mounts it conditionally). */
@ApiTags('development')
@Authenticated('verifications:write', 'admin')
@Controller('v1/dev/messages')
export class DevInboxController {
  constructor(private readonly inbox: DevInbox) {}

  @Get()
  @ApiOperation({
    summary: 'Messages the console provider "sent" for the calling client, codes included (development only; 404 in any other configuration)',
    description: 'A client sees only the messages of its own verifications, whatever its scopes.',
  })
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
