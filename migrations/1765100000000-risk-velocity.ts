import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Velocity and SMS-pumping state (risk), kept up to date by events so that no rule ever scans `verifications`:
 * - `risk_unit_counts`: starts and verified codes per unit (number prefix, country, end-user IP, device, client)
 *   per 10-minute bucket, upserted; read by range over the last hour or day through the primary key.
 * - `risk_unit_days`: verified codes per pumping unit per UTC day, with the count of each hour of the day
 *   (the 14-day maxima of a unit's daily and hourly verified volume, from 14 rows).
 * - `risk_end_users`: the end-user signals a start carried (IP, device and account reference, the latter two
 *   only as keyed hashes), by verification, so that its approval counts for the right IP and account.
 * - `risk_number_accounts`: which clients and accounts a number was verified for, and when last (the
 *   "many accounts per number" rule).
 * - `risk_suspensions`: units the pumping rules tripped, with their figures; `record_only` and `report` rows
 *   record a trip that suspends nothing.
 * And a client's pumping policy (`api_clients.pumping`; null: RISK_PUMPING_MODE).
 */
export class RiskVelocity1765100000000 implements MigrationInterface {
  name = 'RiskVelocity1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE risk_unit_counts (
        kind     text NOT NULL CHECK (kind IN ('prefix', 'country', 'ip', 'device', 'client')),
        unit     text NOT NULL,
        bucket   timestamptz NOT NULL,
        started  integer NOT NULL DEFAULT 0,
        verified integer NOT NULL DEFAULT 0,
        PRIMARY KEY (kind, unit, bucket)
      )`);
    await q.query(`CREATE INDEX risk_unit_counts_bucket ON risk_unit_counts (bucket)`);
    await q.query(`
      CREATE TABLE risk_unit_days (
        kind           text NOT NULL CHECK (kind IN ('prefix', 'country', 'ip')),
        unit           text NOT NULL,
        day            date NOT NULL,
        verified       integer NOT NULL,
        verified_hours integer[] NOT NULL CHECK (cardinality(verified_hours) = 24),
        PRIMARY KEY (kind, unit, day)
      )`);
    await q.query(`CREATE INDEX risk_unit_days_day ON risk_unit_days (day)`);
    await q.query(`
      CREATE TABLE risk_end_users (
        verification_id  text PRIMARY KEY,
        ip               text,
        device_hash      text,
        account_ref_hash bytea,
        created_at       timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX risk_end_users_created_at ON risk_end_users (created_at)`);
    await q.query(`
      CREATE TABLE risk_number_accounts (
        phone_e164       text NOT NULL,
        client_id        text NOT NULL,
        account_ref_hash bytea NOT NULL,
        verified_at      timestamptz NOT NULL,
        PRIMARY KEY (phone_e164, client_id, account_ref_hash)
      )`);
    await q.query(`CREATE INDEX risk_number_accounts_verified_at ON risk_number_accounts (verified_at)`);
    await q.query(`
      CREATE TABLE risk_suspensions (
        id          text PRIMARY KEY,
        kind        text NOT NULL CHECK (kind IN ('prefix', 'country', 'ip')),
        unit        text NOT NULL,
        mode        text NOT NULL CHECK (mode IN ('enforce', 'record_only', 'report')),
        reason      text NOT NULL,
        figures     jsonb NOT NULL,
        created_at  timestamptz NOT NULL,
        expires_at  timestamptz NOT NULL,
        released_at timestamptz,
        released_by text,
        CHECK (expires_at > created_at)
      )`);
    await q.query(`CREATE INDEX risk_suspensions_unit ON risk_suspensions (kind, unit, expires_at)`);
    await q.query(`ALTER TABLE api_clients ADD COLUMN pumping text CHECK (pumping IN ('enforce', 'record_only'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_clients DROP COLUMN pumping`);
    await q.query(`DROP TABLE risk_suspensions`);
    await q.query(`DROP TABLE risk_number_accounts`);
    await q.query(`DROP TABLE risk_end_users`);
    await q.query(`DROP TABLE risk_unit_days`);
    await q.query(`DROP TABLE risk_unit_counts`);
  }
}
