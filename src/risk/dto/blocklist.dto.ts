import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsISO8601, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { NoCredential } from '../../common/input-text';

/** Exactly one of `number` and `prefix` (checked by the service, which answers 400 naming the field). */
export class CreateBlocklistEntryDto {
  @ApiPropertyOptional({ example: '+819012345678', description: 'A number in E.164 form. Give this or prefix.' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  number?: string;

  @ApiPropertyOptional({ example: '+8190123', description: '`+` and 2 to 15 digits: every number starting with them. Give this or number.' })
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
  @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO 8601 date-time' })
  expiresAt?: string;
}

export class ListBlocklistQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @Type(() => Number)
  @IsInt({ message: 'limit must be an integer from 1 to 500' })
  @Min(1)
  @Max(500)
  limit: number = 100;

  @ApiPropertyOptional({ description: 'Opaque: the nextCursor of the previous page.', pattern: '^[A-Za-z0-9_-]+$', maxLength: 512 })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'cursor must be a nextCursor returned by this endpoint' })
  cursor?: string;
}

export class BlocklistEntryView {
  @ApiProperty({ example: 'blk_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ enum: ['number', 'prefix'] }) kind!: 'number' | 'prefix';
  @ApiProperty({ example: '+8190123' }) value!: string;
  @ApiProperty() reason!: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) expiresAt!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class BlocklistPageView {
  @ApiProperty({ type: [BlocklistEntryView] }) items!: BlocklistEntryView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}
