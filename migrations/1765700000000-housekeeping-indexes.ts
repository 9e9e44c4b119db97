import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes that make each housekeeping batch (database/housekeeping.ts) a short range scan from the oldest row
 * instead of a walk over the table:
 * - `idempotency_keys` by age (keys live 24 h);
 * - final verifications by age: partial, so the hot insert of a pending verification does not touch it;
 * - finished outbox rows by age: partial, on created_at (never updated), so a receipt's update stays HOT;
 * - voice call records, and the per-number velocity rows, by age.
 */
export class HousekeepingIndexes1765700000000 implements MigrationInterface {
  name = 'HousekeepingIndexes1765700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at)`);
    await q.query(`CREATE INDEX verifications_final_created_idx ON verifications (created_at) WHERE status NOT IN ('screening', 'pending')`);
    await q.query(`CREATE INDEX outbox_finished_created_idx ON outbox (created_at) WHERE status IN ('done', 'failed')`);
    await q.query(`CREATE INDEX voice_calls_created_at_idx ON voice_calls (created_at)`);
    await q.query(`CREATE INDEX phone_sends_sent_at_idx ON phone_sends (sent_at)`);
    await q.query(`CREATE INDEX phone_check_failures_failed_at_idx ON phone_check_failures (failed_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX phone_check_failures_failed_at_idx`);
    await q.query(`DROP INDEX phone_sends_sent_at_idx`);
    await q.query(`DROP INDEX voice_calls_created_at_idx`);
    await q.query(`DROP INDEX outbox_finished_created_idx`);
    await q.query(`DROP INDEX verifications_final_created_idx`);
    await q.query(`DROP INDEX idempotency_keys_created_at_idx`);
  }
}
