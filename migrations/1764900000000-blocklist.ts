import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The admins' blocklist (risk): numbers and number prefixes that screening denies with `blocklisted`, each
 * with its reason and an optional expiry. A removed entry is deleted (its story stays in the audit trail); an
 * expired one no longer blocks and is replaced when the same entry is added again, so (kind, value) is unique.
 * That unique index also serves screening's one lookup (the number, and every prefix of it).
 */
export class Blocklist1764900000000 implements MigrationInterface {
  name = 'Blocklist1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE blocklist (
        id         text PRIMARY KEY,
        kind       text NOT NULL CHECK (kind IN ('number', 'prefix')),
        value      text NOT NULL CHECK (value ~ '^\\+[1-9][0-9]{1,14}$'),
        reason     text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 200),
        expires_at timestamptz,
        created_at timestamptz NOT NULL,
        created_by text,
        CHECK (expires_at IS NULL OR expires_at > created_at)
      )`);
    await q.query(`CREATE UNIQUE INDEX blocklist_kind_value ON blocklist (kind, value)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE blocklist`);
  }
}
