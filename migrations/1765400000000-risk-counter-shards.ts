import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Shards of the unit counters (risk): a number prefix's and a country's counter rows are shared by every start and
 * approval to it, so all of them queued on the same row lock until their commit (the `JP` row serialized the whole
 * service's starts). Each write now picks one of a few shard rows per transaction, and the screening read sums the
 * shards of a bucket (or day) before judging: the counts are the same, the lock is spread. End-user units (IP,
 * device) and the client unit keep shard 0 (the limited ones are serialized by their advisory lock anyway).
 * Down merges the shards back into one row per key.
 */
export class RiskCounterShards1765400000000 implements MigrationInterface {
  name = 'RiskCounterShards1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE risk_unit_counts ADD COLUMN shard smallint NOT NULL DEFAULT 0 CHECK (shard >= 0)`);
    await q.query(`ALTER TABLE risk_unit_counts DROP CONSTRAINT risk_unit_counts_pkey, ADD PRIMARY KEY (kind, unit, bucket, shard)`);
    await q.query(`ALTER TABLE risk_unit_days ADD COLUMN shard smallint NOT NULL DEFAULT 0 CHECK (shard >= 0)`);
    await q.query(`ALTER TABLE risk_unit_days DROP CONSTRAINT risk_unit_days_pkey, ADD PRIMARY KEY (kind, unit, day, shard)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      WITH gone AS (DELETE FROM risk_unit_counts WHERE shard <> 0 RETURNING kind, unit, bucket, started, verified)
      INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started, verified)
      SELECT kind, unit, bucket, 0, sum(started), sum(verified) FROM gone GROUP BY kind, unit, bucket
      ON CONFLICT (kind, unit, bucket, shard) DO UPDATE
        SET started = risk_unit_counts.started + EXCLUDED.started, verified = risk_unit_counts.verified + EXCLUDED.verified`);
    await q.query(`ALTER TABLE risk_unit_counts DROP CONSTRAINT risk_unit_counts_pkey, ADD PRIMARY KEY (kind, unit, bucket)`);
    await q.query(`ALTER TABLE risk_unit_counts DROP COLUMN shard`);
    await q.query(`
      CREATE TEMPORARY TABLE risk_unit_days_merged AS
      SELECT kind, unit, day, sum(verified)::int AS verified,
             ARRAY[${Array.from({ length: 24 }, (_, h) => `sum(verified_hours[${h + 1}])::int`).join(', ')}] AS verified_hours
        FROM risk_unit_days GROUP BY kind, unit, day`);
    await q.query(`DELETE FROM risk_unit_days`);
    await q.query(`ALTER TABLE risk_unit_days DROP CONSTRAINT risk_unit_days_pkey, ADD PRIMARY KEY (kind, unit, day)`);
    await q.query(`ALTER TABLE risk_unit_days DROP COLUMN shard`);
    await q.query(`INSERT INTO risk_unit_days (kind, unit, day, verified, verified_hours) SELECT kind, unit, day, verified, verified_hours FROM risk_unit_days_merged`);
    await q.query(`DROP TABLE risk_unit_days_merged`);
  }
}
