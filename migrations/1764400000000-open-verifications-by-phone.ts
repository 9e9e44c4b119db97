import { MigrationInterface, QueryRunner } from 'typeorm';

/** Finds a client's open verifications for a number (a new start supersedes them). */
export class OpenVerificationsByPhone1764400000000 implements MigrationInterface {
  name = 'OpenVerificationsByPhone1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX verifications_open_phone_idx ON verifications (phone_e164, client_id) WHERE status IN ('pending', 'screening')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX verifications_open_phone_idx`);
  }
}
