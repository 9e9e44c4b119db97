import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

/**
 * PUT /v1/admin/clients/{id}/policy. Each field is optional: a field given sets the client's own value, null puts
 * it back to the service's default, a field left out keeps its value (so a caller that knows only some fields
 * changes only those, and fields added later, such as the risk rules' countries and number types, do not
 * reset what older callers never sent). Unknown fields are refused (400).
 */
export class UpdateClientPolicyDto {
  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 1,
    maximum: 20,
    description: 'Wrong codes allowed per verification; null: the service default (OTP_MAX_ATTEMPTS).',
    example: 5,
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(20)
  maxCheckAttempts?: number | null;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 1,
    maximum: 1_000_000,
    description:
      'Requests a minute for all the client\'s keys and routes, across every instance (429 `rate_limited` past it); ' +
      'null: the service default (THROTTLE_LIMIT per THROTTLE_TTL_SECONDS).',
    example: 6000,
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  requestsPerMinute?: number | null;
}
