import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The shard rows of the risk counters (`risk_unit_counts` rows with shard > 0) are summed into shard 0 once their
 * 10-minute bucket has closed (RiskSignalsRepository.collapseShards, run by ApprovalFolding), so a day of a hot
 * country or prefix is about 150 rows for screening's read instead of up to 8 × 144. This partial index finds the
 * rows to sum: it holds only the shard rows not summed yet (the open bucket's, the one just closed), so it stays
 * small. A plain CREATE INDEX: the table holds about a day of counters; on a large live table, create it
 * CONCURRENTLY first.
 */
export class RiskCounterShardCollapse1766100000000 implements MigrationInterface {
  name = 'RiskCounterShardCollapse1766100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX risk_unit_counts_shards_idx ON risk_unit_counts (bucket) WHERE shard > 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX risk_unit_counts_shards_idx`);
  }
}
