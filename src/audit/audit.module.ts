import { Global, Module } from '@nestjs/common';
import { AuditController } from './audit.controller';
import { AuditMetrics } from './audit.metrics';
import { AuditReader } from './audit-reader.service';
import { AuditRetention } from './audit-retention.service';
import { AuditSequencer } from './audit-sequencer.service';
import { AuditService } from './audit.service';

/**
 * The audit trail: append-only events in one SHA-256 hash chain (docs/audit.md has the details).
 *
 * Writing never waits for the chain. `AuditService.record(tx, event)` (or `defer(tx, events)`) inserts the
 * event inside the caller's transaction; the event gets its `seq` on insert (column default
 * `audit_next_seq()`), so a business transaction takes no lock beyond its own rows and commits or rolls back
 * with its event.
 *
 * Chaining happens after commit, in batches, by one sequencer at a time (AuditSequencer; each instance runs
 * one, a PostgreSQL advisory lock lets one work per tick). It links the committed events after the chain
 * head in `seq` order into the insert-only `audit_chain (seq, prev_hash, hash)`, with
 * hash = SHA-256(prev_hash ‖ canonical(event)); it waits at a hole in `seq` until the transaction holding
 * that number has ended, and steps over numbers of transactions that rolled back.
 *
 * The database enforces append-only (migrations/1764300000000-audit-chain-table.ts): triggers refuse every
 * UPDATE, a DELETE except retention's below a sealed checkpoint, TRUNCATE, and any insert behind the chain
 * head. What a superuser could still do by disabling the triggers, the chain shows: the integrity check
 * (AuditReader) names the first event that no longer verifies.
 *
 * Global, so that any module can inject AuditService without importing this one.
 */
@Global()
@Module({
  controllers: [AuditController],
  providers: [AuditService, AuditSequencer, AuditReader, AuditRetention, AuditMetrics],
  exports: [AuditService],
})
export class AuditModule {}
