import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A client's number policy (API.md, Admin: a client's policy): the countries its starts may use and the number
 * types per channel. null: the service's configuration (RISK_ALLOWED_COUNTRIES, RISK_SMS_NUMBER_TYPES,
 * RISK_VOICE_NUMBER_TYPES); in `number_types`, a channel left out follows it too.
 */
export class ClientRiskPolicy1764600000000 implements MigrationInterface {
  name = 'ClientRiskPolicy1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_clients ADD COLUMN countries text[], ADD COLUMN number_types jsonb CHECK (jsonb_typeof(number_types) = 'object')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_clients DROP COLUMN number_types, DROP COLUMN countries`);
  }
}
