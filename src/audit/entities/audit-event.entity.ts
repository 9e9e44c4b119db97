import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One audit event (table audit_events, created by migrations/1764100000000-audit.ts). Rows are written
 * and read with explicit SQL (AuditService, AuditSequencer, AuditReader); the entity documents the table
 * for TypeORM and for the mapping in audit-rows.ts. It never leaves the audit module.
 */
@Entity('audit_events')
export class AuditEventEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  /** Position in the chain; null until the sequencer has chained the event. */
  @Column({ type: 'bigint', nullable: true, unique: true })
  seq!: string | null;

  @Column({ type: 'text' })
  type!: string;

  @Column({ name: 'occurred_at', type: 'timestamptz', precision: 3 })
  occurredAt!: Date;

  @Column({ name: 'client_id', type: 'text', nullable: true })
  clientId!: string | null;

  @Column({ name: 'verification_id', type: 'text', nullable: true })
  verificationId!: string | null;

  /** HMAC-SHA256(AUDIT_PHONE_HASH_KEY, E.164): lets admins search by number without storing it. */
  @Column({ name: 'phone_hash', type: 'bytea', nullable: true })
  phoneHash!: Buffer | null;

  @Column({ name: 'phone_masked', type: 'text', nullable: true })
  phoneMasked!: string | null;

  @Column({ name: 'actor_type', type: 'text' })
  actorType!: string;

  @Column({ name: 'actor_id', type: 'text', nullable: true })
  actorId!: string | null;

  @Column({ type: 'text', nullable: true })
  ip!: string | null;

  @Column({ type: 'jsonb', default: () => "'{}'::jsonb" })
  data!: Record<string, unknown>;

  @Column({ name: 'prev_hash', type: 'bytea', nullable: true })
  prevHash!: Buffer | null;

  @Column({ type: 'bytea', nullable: true })
  hash!: Buffer | null;
}
