import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMinSize, IsArray, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { SCOPES, Scope } from '../../common/auth';
import { NoCredential } from '../../common/input-text';
import { IsHttpUrl } from '../../common/webhook-destinations';

export class CreateClientDto {
  @ApiProperty({ example: 'payments', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$' })
  @IsString()
  @Matches(/^[a-z0-9][a-z0-9_.-]{0,63}$/, { message: 'name must be 1-64 characters of a-z 0-9 _ . - starting with a letter or digit' })
  @NoCredential()
  name!: string;

  @ApiProperty({ enum: SCOPES, isArray: true, minItems: 1, example: ['verifications:write', 'verifications:check'] })
  @IsArray()
  @ArrayMinSize(1)
  @IsIn(SCOPES as unknown as string[], { each: true, message: `each scope must be one of: ${SCOPES.join(', ')}` })
  scopes!: Scope[];

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 20, description: 'Wrong codes allowed per verification (default OTP_MAX_ATTEMPTS).' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(20)
  maxCheckAttempts?: number;

  @ApiPropertyOptional({
    description: 'Default URL for result webhooks: https (http only outside production), no credentials, no loopback, private or metadata address unless the operator allow-lists it.',
    example: 'https://bank.internal/hooks/otp',
    format: 'uri',
    maxLength: 2048,
  })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @IsHttpUrl()
  @NoCredential()
  webhookUrl?: string;
}
