import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { Problems } from './problem';

const CURSOR_MESSAGE = 'cursor must be a nextCursor returned by this endpoint';

/** `limit` and `cursor` of a cursor-paged list (newest first); list queries extend it. */
export class PageQuery {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 500, default: 100 })
  @Type(() => Number)
  @IsInt({ message: 'limit must be an integer from 1 to 500' })
  @Min(1)
  @Max(500)
  limit: number = 100;

  @ApiPropertyOptional({ description: 'Opaque: the nextCursor of the previous page.', pattern: '^[A-Za-z0-9_-]+$', maxLength: 512 })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: CURSOR_MESSAGE })
  cursor?: string;
}

/** An opaque cursor: the position as JSON, base64url. */
export function encodeCursor(position: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

/**
 * Reads a cursor made by encodeCursor; `accept` returns the position when the decoded object is one this list
 * made, else undefined. Anything else is 400 validation_failed on `cursor`.
 */
export function decodeCursor<T>(text: string, accept: (position: Record<string, unknown>) => T | undefined): T {
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    c = undefined;
  }
  const position = c && typeof c === 'object' && !Array.isArray(c) ? accept(c as Record<string, unknown>) : undefined;
  if (position === undefined) throw Problems.validation([{ field: 'cursor', message: CURSOR_MESSAGE }]);
  return position;
}
