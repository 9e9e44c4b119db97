import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { NoCredential } from '../../common/input-text';
import { PageQuery } from '../../common/paging';
import { IsDateTime } from '../../common/date-time';

/** Exactly one of `number` and `prefix` (checked by the service, which answers 400 naming the field). */
export class CreateBlocklistEntryDto {
  @ApiPropertyOptional({ example: '+819012345678', pattern: '^\\+[1-9]\\d{6,14}$', description: 'A number in E.164 form. Give this or prefix.' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  number?: string;

  @ApiPropertyOptional({ example: '+8190123', pattern: '^\\+[1-9]\\d{1,14}$', description: '`+` and 2 to 15 digits: every number starting with them. Give this or number.' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  prefix?: string;

  @ApiProperty({ example: 'reported by the fraud team, case 4411', minLength: 1, maxLength: 200 })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  @NoCredential()
  reason!: string;

  @ApiPropertyOptional({ example: '2026-12-31T00:00:00.000Z', description: 'When the entry stops blocking (ISO 8601, in the future). Never when left out.' })
  @IsOptional()
  @IsDateTime({ message: 'expiresAt must be an ISO 8601 date-time such as 2026-11-24T00:00:00Z' })
  expiresAt?: string;
}

export class ListBlocklistQuery extends PageQuery {}

export class BlocklistEntryView {
  @ApiProperty({ example: 'blk_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ enum: ['number', 'prefix'], example: 'prefix' }) kind!: 'number' | 'prefix';
  @ApiProperty({ example: '+8190123', description: 'The prefix, or the number masked.' }) value!: string;
  @ApiProperty({ example: 'reported by the fraud team, case 4411' }) reason!: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time', example: '2026-12-31T00:00:00.000Z' }) expiresAt!: string | null;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:00:00.000Z' }) createdAt!: string;
}

export class BlocklistPageView {
  @ApiProperty({ type: [BlocklistEntryView] }) items!: BlocklistEntryView[];
  @ApiProperty({ nullable: true, type: String, example: null, description: 'Pass as `cursor` for the next page; null on the last page.' }) nextCursor!: string | null;
}
