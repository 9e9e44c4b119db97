import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The chain link of one audit event (table audit_chain), inserted by the AuditSequencer and never changed:
 * hash = SHA-256(prev_hash ‖ canonical(event seq)), see audit-chain.ts.
 */
@Entity('audit_chain')
export class AuditChainLinkEntity {
  @PrimaryColumn({ type: 'bigint' })
  seq!: string;

  @Column({ name: 'prev_hash', type: 'bytea' })
  prevHash!: Buffer;

  @Column({ type: 'bytea' })
  hash!: Buffer;
}
