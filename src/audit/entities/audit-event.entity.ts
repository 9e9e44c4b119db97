import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One audit event (table audit_events, created by migrations/1764100000000-audit.ts, changed by
 * 1764300000000-audit-chain-table.ts). Rows are inserted and never updated; they are written
 * and read with explicit SQL (AuditService, AuditSequencer, AuditReader); the entity documents the table
 * for TypeORM and for the mapping in audit-rows.ts. It never leaves the audit module.
 */
@Entity('audit_events')
export class AuditEventEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  /** Position in the trail, from audit_next_seq() on insert; the chain (audit_chain) follows it. */
  @Column({ type: 'bigint', unique: true, default: () => 'audit_next_seq()' })
  seq!: string;

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
}
