import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `risk_approvals` (risk): the verified codes not yet counted in the unit counters. An approval used to add 1 to its
 * prefix's and country's counter rows (and its IP's) in the check's own transaction: every check of the service
 * queued on the same few rows until its commit, and the three upserts cost the check a quarter of its throughput.
 * Now the check appends one row here (no row is shared), and one instance at a time folds the rows into
 * risk_unit_counts and risk_unit_days every RISK_APPROVALS_FOLD_INTERVAL_MS, deleting them in the same transaction.
 * Down folds what is left, so no verified code goes uncounted (the fold as it was written here: a migration is a
 * frozen snapshot, so it keeps its own copy of the statement rather than importing risk's).
 */
export class RiskApprovals1765800000000 implements MigrationInterface {
  name = 'RiskApprovals1765800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE risk_approvals (
        verification_id text PRIMARY KEY,
        prefix text NOT NULL,
        country text,
        approved_at timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    const hours = Array.from({ length: 24 }, (_, h) => h);
    await q.query(`
      WITH d AS (DELETE FROM risk_approvals RETURNING verification_id, prefix, country, approved_at),
      u AS (
        SELECT 'prefix'::text AS kind, d.prefix AS unit, d.approved_at AS at FROM d
        UNION ALL SELECT 'country', d.country, d.approved_at FROM d WHERE d.country IS NOT NULL
        UNION ALL SELECT 'ip', e.ip, d.approved_at FROM d JOIN risk_end_users e ON e.verification_id = d.verification_id WHERE e.ip IS NOT NULL
      ), b AS (
        INSERT INTO risk_unit_counts (kind, unit, bucket, shard, verified)
        SELECT kind, unit, to_timestamp(floor(extract(epoch FROM at) / 600) * 600), 0, count(*) FROM u GROUP BY 1, 2, 3
        ON CONFLICT (kind, unit, bucket, shard) DO UPDATE SET verified = risk_unit_counts.verified + EXCLUDED.verified
      )
      INSERT INTO risk_unit_days (kind, unit, day, shard, verified, verified_hours)
      SELECT kind, unit, (at AT TIME ZONE 'UTC')::date, 0, count(*),
             ARRAY[${hours.map((h) => `count(*) FILTER (WHERE extract(hour FROM at AT TIME ZONE 'UTC') = ${h})`).join(', ')}]::int[]
        FROM u GROUP BY 1, 2, 3
      ON CONFLICT (kind, unit, day, shard) DO UPDATE
        SET verified = risk_unit_days.verified + EXCLUDED.verified,
            verified_hours = ARRAY[${hours.map((h) => `risk_unit_days.verified_hours[${h + 1}] + EXCLUDED.verified_hours[${h + 1}]`).join(', ')}]`);
    await q.query(`DROP TABLE risk_approvals`);
  }
}
