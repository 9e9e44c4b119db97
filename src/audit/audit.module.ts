import { Global, Module } from '@nestjs/common';
import { AuditController } from './audit.controller';
import { AuditReader } from './audit-reader.service';
import { AuditRetention } from './audit-retention.service';
import { AuditSequencer } from './audit-sequencer.service';
import { AuditService } from './audit.service';

/**
 * The audit trail: append-only events in one SHA-256 hash chain.
 *
 * Writing never waits for the chain. `AuditService.record(manager, event)` inserts the event inside the
 * caller's transaction with seq, prev_hash and hash empty, so a business transaction takes no lock beyond
 * its own rows and commits or rolls back with its event.
 *
 * Chaining happens after commit, in batches, by one sequencer at a time (AuditSequencer; each instance runs
 * one, a PostgreSQL advisory lock lets one work per tick, as a ledger's block builder or Trillian's
 * sequencer do). It takes every committed event not chained yet, in (occurred_at, id) order, and gives
 * each the next seq, prev_hash = the head's hash, hash = SHA-256(prev_hash ‖ canonical(event)).
 * Because every visible unchained event is taken, an event committed late is chained later, never skipped.
 *
 * The database enforces append-only (migrations/1764100000000-audit.ts): a trigger refuses UPDATE except
 * that one fill of empty chain columns, DELETE except retention's below a sealed checkpoint, and TRUNCATE.
 * What a superuser could still do by disabling the trigger, the chain shows: the integrity check
 * (AuditReader.verifyChain) names the first event that no longer verifies. docs/audit.md has the details.
 *
 * Global, so that any module can inject AuditService without importing this one.
 */
@Global()
@Module({
  controllers: [AuditController],
  providers: [AuditService, AuditSequencer, AuditReader, AuditRetention],
  exports: [AuditService],
})
export class AuditModule {}
