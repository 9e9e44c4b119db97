import { MigrationInterface, QueryRunner } from 'typeorm';

export class Clients1764000000000 implements MigrationInterface {
  name = 'Clients1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_clients (
        id text PRIMARY KEY,
        name text NOT NULL UNIQUE,
        scopes text[] NOT NULL,
        webhook_url text,
        webhook_secret text NOT NULL,
        created_at timestamptz NOT NULL,
        disabled_at timestamptz
      )`);
    await q.query(`
      CREATE TABLE api_keys (
        id text PRIMARY KEY,
        client_id text NOT NULL REFERENCES api_clients(id),
        prefix text NOT NULL UNIQUE,
        key_hash bytea NOT NULL,
        created_at timestamptz NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX api_keys_client_id_idx ON api_keys (client_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE api_keys`);
    await q.query(`DROP TABLE api_clients`);
  }
}
