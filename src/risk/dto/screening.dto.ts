import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsObject, IsOptional, IsString, Matches, MaxLength, ValidateNested } from 'class-validator';
import { NoCredential } from '../../common/input-text';
import { EndUserDto } from './end-user.dto';
import { VOICE_CHECK_METHODS, VOICE_CONTRACT_STATUSES } from './voice-contract.views';

/** POST /v1/risk/screenings: what a start would be judged by, without starting one. */
export class ScreeningRequestDto {
  @ApiProperty({ example: '+819012345678', description: 'E.164, or national form with `country`.', maxLength: 32 })
  @IsString()
  @MaxLength(32)
  phoneNumber!: string;

  @ApiPropertyOptional({ example: 'JP', pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2, for a number in national form.' })
  @IsOptional()
  @Matches(/^[A-Za-z]{2}$/, { message: 'country must be an ISO 3166-1 alpha-2 code such as JP' })
  country?: string;

  @ApiPropertyOptional({ example: 'transfer', pattern: '^[a-z0-9_.-]{1,64}$', description: 'The purpose a start would have: the voice-contract policy may differ per purpose.' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z0-9_.-]{1,64}$/, { message: 'purpose must be 1-64 characters of a-z 0-9 _ . -' })
  @NoCredential()
  purpose?: string;

  @ApiPropertyOptional({ enum: ['sms', 'voice'], default: 'sms', description: 'The channel a start would use (number types are judged per channel).' })
  @IsOptional()
  @IsIn(['sms', 'voice'])
  channel?: 'sms' | 'voice';

  @ApiPropertyOptional({ enum: ['ja', 'en'], default: 'ja', description: 'The language of a check call started here.' })
  @IsOptional()
  @IsIn(['ja', 'en'])
  locale?: 'ja' | 'en';

  @ApiPropertyOptional({
    default: false,
    description: 'Start a voice-contract check now when the number has no fresh record (answer 202 with voiceContract.status `checking`), whatever the policy.',
  })
  @IsOptional()
  @IsBoolean()
  startVoiceCheck?: boolean;

  @ApiPropertyOptional({
    type: EndUserDto,
    description: 'The end-user signals a start would carry: the start limits per IP and device and many accounts per number are judged with them (nothing is counted or stored).',
  })
  @IsOptional()
  @IsObject({ message: 'endUser must be an object' })
  @ValidateNested()
  @Type(() => EndUserDto)
  endUser?: EndUserDto;
}

export class ScreeningInboundCallView {
  @ApiProperty({ example: '+815012345678' }) callTo!: string;
  @ApiProperty({ format: 'date-time' }) callBy!: string;
}

export class ScreeningVoiceContractView {
  @ApiProperty({ enum: VOICE_CONTRACT_STATUSES }) status!: string;
  @ApiProperty({ enum: VOICE_CHECK_METHODS, nullable: true, type: String }) method!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) checkedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) expiresAt!: string | null;
  @ApiPropertyOptional({ type: ScreeningInboundCallView, description: 'An inbound check waiting for the person\'s call.' }) inboundCall?: ScreeningInboundCallView;
}

export class ScreeningView {
  @ApiProperty({ example: '+819012345678', description: 'The normalized E.164 number (not masked: the caller sent it).' }) phoneNumber!: string;
  @ApiProperty({ nullable: true, type: String, example: 'JP' }) country!: string | null;
  @ApiProperty({ example: 'mobile' }) numberType!: string;
  @ApiProperty({ enum: ['allow', 'screen', 'deny'] }) decision!: string;
  @ApiProperty({
    type: [String],
    example: [],
    description:
      'Stable codes: country_not_allowed, number_type_not_allowed, blocklisted, velocity_exceeded, prefix_suspended, country_suspended, ip_suspended, many_accounts_per_number (deny or screen), no_voice_contract, voice_contract_required (decision screen), …',
  })
  reasons!: string[];
  @ApiProperty({ type: ScreeningVoiceContractView }) voiceContract!: ScreeningVoiceContractView;
}
