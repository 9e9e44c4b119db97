import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class AuditActorView {
  @ApiProperty({ enum: ['client', 'admin', 'system', 'provider'] }) type!: string;
  @ApiProperty({ nullable: true, type: String, description: 'Client id, API key id, provider name… depending on the type.' }) id!: string | null;
}

export class AuditEventView {
  @ApiProperty({ example: 'evt_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({
    type: Number,
    description: 'Position in the trail, given when the event is written; the hash chain follows it. Numbers increase; a number whose transaction rolled back is never used.',
  })
  seq!: number;
  @ApiProperty({ description: 'false while the sequencer has not chained the event yet (hash and prevHash are then null; normally for less than a second).' })
  chained!: boolean;
  @ApiProperty({ example: 'verification.created' }) type!: string;
  @ApiProperty({ example: '2026-11-24T12:00:00.000Z' }) occurredAt!: string;
  @ApiProperty({ nullable: true, type: String }) clientId!: string | null;
  @ApiProperty({ nullable: true, type: String }) verificationId!: string | null;
  @ApiProperty({ nullable: true, type: String, example: '+81*******5678', description: 'Masked; the number itself is stored only as an HMAC.' })
  phoneNumber!: string | null;
  @ApiProperty({ type: AuditActorView }) actor!: AuditActorView;
  @ApiProperty({ nullable: true, type: String }) ip!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) data!: Record<string, unknown>;
  @ApiProperty({ nullable: true, type: String, description: 'SHA-256 (hex) over prevHash and the canonical encoding of this event.' })
  hash!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'hash of the event before this one in the chain (64 zeros for the first).' })
  prevHash!: string | null;
}

export class AuditEventPage {
  @ApiProperty({ type: [AuditEventView] }) items!: AuditEventView[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as `cursor` for the next (older) page; null on the last page.' })
  nextCursor!: string | null;
}

export class AuditCheckpointView {
  @ApiProperty() seq!: number;
  @ApiProperty() hash!: string;
}

export class AuditIntegrityView {
  @ApiProperty({ description: 'true when every chained event verifies from the checkpoint (or the start) to the recorded head.' })
  ok!: boolean;
  @ApiProperty({ description: 'Chained events examined.' }) checked!: number;
  @ApiProperty({ description: 'Hash of the last event that verified: keep it outside this database to detect a rewrite later.' }) head!: string;
  @ApiProperty() headSeq!: number;
  @ApiPropertyOptional({ description: 'Sequence number of the first event that does not verify (changed, removed or inserted out of band).' })
  firstBrokenSeq?: number;
  @ApiPropertyOptional({ enum: ['missing_event', 'unexpected_event', 'prev_hash_mismatch', 'hash_mismatch', 'head_mismatch'] })
  reason?: string;
  @ApiProperty({ description: 'Events written but not chained yet; they are not part of this check.' }) unchained!: number;
  @ApiProperty({ nullable: true, type: AuditCheckpointView, description: 'Where the walk started when retention archived older events.' })
  checkpoint!: AuditCheckpointView | null;
}
