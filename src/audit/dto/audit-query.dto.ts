import { ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import {
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  Validate,
  ValidatorConstraint,
  ValidatorConstraintInterface,
} from 'class-validator';
import { NoCredential } from '../../common/input-text';
import { PageQuery } from '../../common/paging';
import { InvalidPhoneNumber, parsePhone } from '../../common/phone';
import { IsDateTime } from '../../common/date-time';

@ValidatorConstraint({ name: 'phoneNumberFilter' })
class PhoneNumberFilter implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      parsePhone(value);
      return true;
    } catch (err) {
      if (err instanceof InvalidPhoneNumber) return false;
      throw err;
    }
  }
  defaultMessage(): string {
    return 'phoneNumber must be a valid number in E.164 form (+819012345678)';
  }
}

/** The filters of API.md (Admin), shared by listing and export. */
export class AuditFiltersQuery {
  @ApiPropertyOptional({ example: 'vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F', pattern: '^vrf_[A-Za-z0-9]{1,64}$' })
  @IsOptional()
  @IsString()
  @Matches(/^vrf_[A-Za-z0-9]{1,64}$/, { message: 'verificationId must be a verification id (vrf_…)' })
  verificationId?: string;

  @ApiPropertyOptional({
    example: '+819012345678',
    maxLength: 32,
    description: 'E.164. Normalized, then matched through its HMAC: the audit trail does not store numbers in clear.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  @Validate(PhoneNumberFilter)
  phoneNumber?: string;

  @ApiPropertyOptional({ example: 'cli_01JD3Y8N6W2Q5V7X9Z1B3C5D7F', pattern: '^cli_[A-Za-z0-9]{1,64}$', description: 'The client the event concerns (for reads of the trail: the reader).' })
  @IsOptional()
  @IsString()
  @Matches(/^cli_[A-Za-z0-9]{1,64}$/, { message: 'clientId must be a client id (cli_…)' })
  clientId?: string;

  @ApiPropertyOptional({ example: 'verification.created', pattern: '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)+$', maxLength: 64, description: 'Exact event type.' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/, { message: 'type must be an event type such as verification.created' })
  @MaxLength(64)
  @NoCredential()
  type?: string;

  @ApiPropertyOptional({ example: '2026-11-24T00:00:00.000Z', description: 'Events that occurred at or after this instant (ISO 8601).' })
  @IsOptional()
  @IsDateTime({ message: 'from must be an ISO 8601 date-time such as 2026-11-24T00:00:00Z' })
  from?: string;

  @ApiPropertyOptional({ example: '2026-11-25T00:00:00.000Z', description: 'Events that occurred before this instant (exclusive).' })
  @IsOptional()
  @IsDateTime({ message: 'to must be an ISO 8601 date-time such as 2026-11-24T00:00:00Z' })
  to?: string;
}

/** The filters with `limit` and `cursor` (the same paging as every list). */
export class ListAuditEventsQuery extends IntersectionType(AuditFiltersQuery, PageQuery) {}

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export class ExportAuditEventsQuery extends AuditFiltersQuery {
  @ApiPropertyOptional({ enum: EXPORT_FORMATS, default: 'ndjson' })
  @IsIn(EXPORT_FORMATS as unknown as string[], { message: 'format must be ndjson or csv' })
  format: ExportFormat = 'ndjson';
}
