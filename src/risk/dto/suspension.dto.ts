import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional } from 'class-validator';
import { PageQuery } from '../../common/paging';

export class ListSuspensionsQuery extends PageQuery {
  @ApiPropertyOptional({ type: Boolean, description: 'true: only suspensions active now (not released, not expired).' })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'active must be true or false' })
  active?: boolean;
}

export class SuspensionView {
  @ApiProperty({ example: 'sus_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ enum: ['prefix', 'country', 'ip'], description: 'The unit: a number prefix (digits of E.164 without +), a country, an end-user IP (IPv6: its /64).' })
  kind!: 'prefix' | 'country' | 'ip';
  @ApiProperty({ example: '81901234' }) value!: string;
  @ApiProperty({
    enum: ['enforce', 'record_only', 'report'],
    description:
      '`enforce`: starts under it are denied (403 `risk_denied`) for clients whose pumping policy is `enforce`. `record_only`: tripped by a ' +
      "`record_only` client's traffic, recorded only. `report`: the home country tripped; reported, never suspended.",
  })
  mode!: 'enforce' | 'record_only' | 'report';
  @ApiProperty({ example: 'prefix_suspended', description: 'The reason code a denied start gets: prefix_suspended, country_suspended or ip_suspended.' }) reason!: string;
  @ApiProperty({
    description: 'The figures that tripped it: the window (24h or 1h), unverified codes and the threshold, and what the threshold was made of.',
    example: { window: '24h', unverified: 21, threshold: 20, started: 21, verified: 0, verifiedLast24h: 0, maxDailyVerified14d: 0 },
  })
  figures!: Record<string, unknown>;
  @ApiProperty({ description: 'Whether it is in force now: not released and not expired.' }) active!: boolean;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) expiresAt!: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time', example: null }) releasedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, example: null, description: 'The admin key that released it.' }) releasedBy!: string | null;
}

export class SuspensionPageView {
  @ApiProperty({ type: [SuspensionView] }) items!: SuspensionView[];
  @ApiProperty({ nullable: true, type: String, example: null, description: 'Pass as `cursor` for the next page; null on the last page.' }) nextCursor!: string | null;
}
