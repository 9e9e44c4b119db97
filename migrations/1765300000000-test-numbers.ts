import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Test numbers (issue 12 item 4):
 * - `client_test_numbers` (clients): a client's sandbox numbers, one row per (client, number), with the fixed code they
 *   accept (null: the documented default) and what their messages and check calls are scripted to do;
 * - `api_clients.test_numbers_in_production`: an admin's explicit allowance to use them when NODE_ENV=production;
 * - `verifications.test` (issuance): the script of a verification of a test number (null for every real one);
 * - `voice_contract_checks.test_outcome` (risk): the scripted IVR outcome of a check of a test number, whose
 *   result is never a number's record.
 */
export class TestNumbers1765300000000 implements MigrationInterface {
  name = 'TestNumbers1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE client_test_numbers (
        id              text PRIMARY KEY,
        client_id       text NOT NULL REFERENCES api_clients (id) ON DELETE CASCADE,
        phone_e164      text NOT NULL CHECK (phone_e164 ~ '^\\+[1-9][0-9]{6,14}$'),
        code            text CHECK (code ~ '^[0-9]{4,10}$'),
        delivery_status text CHECK (delivery_status IN ('delivered', 'undelivered', 'failed')),
        ivr_outcome     text NOT NULL CHECK (ivr_outcome IN ('key_pressed', 'voicemail', 'unallocated', 'busy', 'no_answer')),
        created_at      timestamptz NOT NULL,
        created_by      text,
        UNIQUE (client_id, phone_e164)
      )`);
    await q.query(`ALTER TABLE api_clients ADD COLUMN test_numbers_in_production boolean`);
    await q.query(`ALTER TABLE verifications ADD COLUMN test jsonb CHECK (jsonb_typeof(test) = 'object')`);
    await q.query(`ALTER TABLE voice_contract_checks ADD COLUMN test_outcome text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE voice_contract_checks DROP COLUMN test_outcome`);
    await q.query(`ALTER TABLE verifications DROP COLUMN test`);
    await q.query(`ALTER TABLE api_clients DROP COLUMN test_numbers_in_production`);
    await q.query(`DROP TABLE client_test_numbers`);
  }
}
