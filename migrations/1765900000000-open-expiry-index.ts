import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * verifications_open_expiry_idx (the expiry sweeper's: open verifications by expires_at) gets `expires_at IS NOT
 * NULL` in its predicate. The column is NOT NULL, so the index holds the same rows; what changes is which queries
 * may use it: only those bounded on expires_at (the sweeper's `expires_at <= $1` implies it), no longer a lookup of
 * a number's open verifications, which the number's index (verifications_open_phone_idx) serves. With 10 million
 * final verifications, the statistics see almost no open ones, and the planner, taking both partial indexes for
 * near-empty, chose to scan every open verification by expiry for each start (found with BENCH_SEED=10000000).
 * A plain CREATE INDEX: the index is small (open verifications only), but building it reads the whole table while
 * writes to it wait; on a large live table create it CONCURRENTLY under another name first.
 */
export class OpenExpiryIndex1765900000000 implements MigrationInterface {
  name = 'OpenExpiryIndex1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX verifications_open_expiry_idx`);
    await q.query(`CREATE INDEX verifications_open_expiry_idx ON verifications (expires_at) WHERE status IN ('pending', 'screening') AND expires_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX verifications_open_expiry_idx`);
    await q.query(`CREATE INDEX verifications_open_expiry_idx ON verifications (expires_at) WHERE status IN ('pending', 'screening')`);
  }
}
