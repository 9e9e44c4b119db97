import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A sealed point of the chain: retention archived and deleted every event up to `seq`. */
@Entity('audit_checkpoints')
export class AuditCheckpointEntity {
  @PrimaryColumn({ type: 'bigint' })
  seq!: string;

  @Column({ type: 'bytea' })
  hash!: Buffer;

  @Column({ name: 'last_occurred_at', type: 'timestamptz', precision: 3 })
  lastOccurredAt!: Date;

  @Column({ name: 'archived_events', type: 'bigint' })
  archivedEvents!: string;

  @Column({ name: 'archive_name', type: 'text', nullable: true })
  archiveName!: string | null;

  @Column({ name: 'archive_sha256', type: 'text', nullable: true })
  archiveSha256!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
