import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { NoCredential } from '../../common/input-text';
import { EndUserDto } from '../../risk/dto/end-user.dto';
import { TransactionDto } from './transaction.dto';

export class StartVerificationDto {
  @ApiProperty({ example: '+819012345678', minLength: 1, maxLength: 32, description: 'E.164, or national form with `country`.' })
  @IsString()
  @MaxLength(32)
  phoneNumber!: string;

  @ApiPropertyOptional({ example: 'JP', pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2 (any case), for a number in national form.' })
  @IsOptional()
  @Matches(/^[A-Za-z]{2}$/, { message: 'country must be an ISO 3166-1 alpha-2 code such as JP' })
  country?: string;

  @ApiPropertyOptional({ enum: ['sms', 'voice'], default: 'sms' })
  @IsOptional()
  @IsIn(['sms', 'voice'])
  channel?: 'sms' | 'voice';

  @ApiProperty({ example: 'login', pattern: '^[a-z0-9_.-]{1,64}$' })
  @IsString()
  @Matches(/^[a-z0-9_.-]{1,64}$/, { message: 'purpose must be 1-64 characters of a-z 0-9 _ . -' })
  @NoCredential()
  purpose!: string;

  @ApiPropertyOptional({ enum: ['ja', 'en'], default: 'ja' })
  @IsOptional()
  @IsIn(['ja', 'en'])
  locale?: 'ja' | 'en';

  @ApiPropertyOptional({ type: 'integer', minimum: 4, maximum: 10, default: 6, description: 'Digits in the code.' })
  @IsOptional()
  @IsInt()
  @Min(4)
  @Max(10)
  codeLength?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 60, maximum: 1800, default: 300, description: 'Seconds the code stays valid.' })
  @IsOptional()
  @IsInt()
  @Min(60)
  @Max(1800)
  ttlSeconds?: number;

  @ApiPropertyOptional({ type: TransactionDto, description: 'Binds the code to this transaction (dynamic linking): the message states it, and a check must present it again identically.' })
  @IsOptional()
  @IsObject({ message: 'transaction must be an object' })
  @ValidateNested()
  @Type(() => TransactionDto)
  transaction?: TransactionDto;

  @ApiPropertyOptional({ maxLength: 128, example: 'order-8812', description: 'Your reference, echoed in the object, webhooks and audit events.' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  @NoCredential()
  reference?: string;

  @ApiPropertyOptional({
    example: 'https://bank.internal/hooks/otp',
    format: 'uri',
    maxLength: 2048,
    description: 'For result webhooks: https (http only outside production), no credentials, no loopback, private or metadata address unless the operator allow-lists it; defaults to the client URL.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @NoCredential()
  callbackUrl?: string;

  @ApiPropertyOptional({ type: EndUserDto, description: 'Optional end-user signals for the risk rules (velocity per IP and device, many accounts per number).' })
  @IsOptional()
  @IsObject({ message: 'endUser must be an object' })
  @ValidateNested()
  @Type(() => EndUserDto)
  endUser?: EndUserDto;
}

export class ResendVerificationDto {
  @ApiPropertyOptional({ enum: ['sms', 'voice'], description: 'The channel of this code; the channel of the last one when left out.' })
  @IsOptional()
  @IsIn(['sms', 'voice'])
  channel?: 'sms' | 'voice';
}
