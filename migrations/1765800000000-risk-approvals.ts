import { MigrationInterface, QueryRunner } from 'typeorm';
import { foldApprovalsSql } from '../src/risk/risk-signals.repository';

/**
 * `risk_approvals` (risk): the verified codes not yet counted in the unit counters. An approval used to add 1 to its
 * prefix's and country's counter rows (and its IP's) in the check's own transaction: every check of the service
 * queued on the same few rows until its commit, and the three upserts cost the check a quarter of its throughput.
 * Now the check appends one row here (no row is shared), and one instance at a time folds the rows into
 * risk_unit_counts and risk_unit_days every RISK_APPROVALS_FOLD_INTERVAL_MS, deleting them in the same transaction.
 * Down folds what is left, so no verified code goes uncounted.
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
    while ((await q.query(foldApprovalsSql, [10_000]))[0].folded > 0);
    await q.query(`DROP TABLE risk_approvals`);
  }
}
