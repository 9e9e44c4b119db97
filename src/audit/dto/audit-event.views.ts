import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class AuditActorView {
  @ApiProperty({ enum: ['client', 'admin', 'system', 'provider'], example: 'client' }) type!: string;
  @ApiProperty({ nullable: true, type: String, example: 'cli_01JD3Y8N6W2Q5V7X9Z1B3C5D7F', description: 'Client id, API key id, provider name… depending on the type.' }) id!: string | null;
}

export class AuditEventView {
  @ApiProperty({ example: 'evt_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({
    type: 'integer',
    example: 1234,
    description: 'Position in the trail, given when the event is written; the hash chain follows it. Numbers increase; a number whose transaction rolled back is never used.',
  })
  seq!: number;
  @ApiProperty({ example: true, description: 'false while the sequencer has not chained the event yet (hash and prevHash are then null; normally for less than a second).' })
  chained!: boolean;
  @ApiProperty({ example: 'verification.created' }) type!: string;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:00:00.000Z' }) occurredAt!: string;
  @ApiProperty({ nullable: true, type: String, example: 'cli_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) clientId!: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) verificationId!: string | null;
  @ApiProperty({ nullable: true, type: String, example: '+81*******5678', description: 'Masked; the number itself is stored only as an HMAC.' })
  phoneNumber!: string | null;
  @ApiProperty({ type: AuditActorView }) actor!: AuditActorView;
  @ApiProperty({ nullable: true, type: String, example: '203.0.113.7' }) ip!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, example: { channel: 'sms', purpose: 'login' }, description: 'What the event type records; never a code.' })
  data!: Record<string, unknown>;
  @ApiProperty({
    nullable: true,
    type: String,
    pattern: '^[0-9a-f]{64}$',
    example: '5f2b9c0e8a1d4e7f6b3a2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f',
    description: 'SHA-256 (hex) over prevHash and the canonical encoding of this event.',
  })
  hash!: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    pattern: '^[0-9a-f]{64}$',
    example: '0000000000000000000000000000000000000000000000000000000000000000',
    description: 'hash of the event before this one in the chain (64 zeros for the first).',
  })
  prevHash!: string | null;
}

export class AuditEventPage {
  @ApiProperty({ type: [AuditEventView] }) items!: AuditEventView[];
  @ApiProperty({ nullable: true, type: String, example: null, description: 'Pass as `cursor` for the next (older) page; null on the last page.' })
  nextCursor!: string | null;
}

export class AuditCheckpointView {
  @ApiProperty({ type: 'integer', example: 1000 }) seq!: number;
  @ApiProperty({ pattern: '^[0-9a-f]{64}$', example: '9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b' }) hash!: string;
}

export class AuditIntegrityView {
  @ApiProperty({ example: true, description: 'true when every chained event verifies from the checkpoint (or the start) to the recorded head.' })
  ok!: boolean;
  @ApiProperty({ type: 'integer', minimum: 0, example: 1234, description: 'Chained events examined.' }) checked!: number;
  @ApiProperty({
    example: '5f2b9c0e8a1d4e7f6b3a2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f',
    description: 'Hash of the last event that verified: keep it outside this database to detect a rewrite later.',
  })
  head!: string;
  @ApiProperty({ type: 'integer', example: 1234 }) headSeq!: number;
  @ApiPropertyOptional({ type: 'integer', description: 'Sequence number of the first event that does not verify (changed, removed or inserted out of band).' })
  firstBrokenSeq?: number;
  @ApiPropertyOptional({ enum: ['missing_event', 'unexpected_event', 'prev_hash_mismatch', 'hash_mismatch', 'head_mismatch'], description: 'With ok false: what broke.' })
  reason?: string;
  @ApiProperty({ type: 'integer', minimum: 0, example: 0, description: 'Events written but not chained yet; they are not part of this check.' }) unchained!: number;
  @ApiProperty({ nullable: true, type: AuditCheckpointView, example: null, description: 'Where the walk started when retention archived older events.' })
  checkpoint!: AuditCheckpointView | null;
}
