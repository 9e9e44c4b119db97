import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The voice-contract checks still open, by start: what the stale-check sweep reads (a check whose window has passed
 * with no decision is decided `unknown`). A row is in it only while its check is open, so it stays small however many
 * checks the table keeps.
 */
export class OpenVoiceChecksIndex1766500000000 implements MigrationInterface {
  name = 'OpenVoiceChecksIndex1766500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS voice_contract_checks_open_idx ON voice_contract_checks (created_at) WHERE status = 'checking'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX voice_contract_checks_open_idx`);
  }
}
