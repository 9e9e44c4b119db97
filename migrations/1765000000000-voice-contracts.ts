import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Voice-contract checks (risk, issue 10 item 7): one row per check of a number, its newest row being the number's
 * record. The number is kept only as a keyed hash (AUDIT_PHONE_HASH_KEY, the key the audit trail finds numbers
 * by) and masked; while the check may still place calls it also holds the number sealed (AES-GCM, as outbox
 * payloads), wiped once the check is decided. `calls` is the history of the check's calls and their outcomes.
 * Also: a client's voice-contract policy, and the outbox kind of check calls.
 */
export class VoiceContracts1765000000000 implements MigrationInterface {
  name = 'VoiceContracts1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE voice_contract_checks (
        id            text PRIMARY KEY,
        phone_hash    bytea NOT NULL,
        phone_masked  text NOT NULL,
        phone_sealed  bytea,
        client_id     text,
        method        text NOT NULL CHECK (method IN ('ivr_outbound', 'ivr_inbound', 'voice_otp')),
        status        text NOT NULL CHECK (status IN ('checking', 'confirmed', 'absent', 'unknown')),
        locale        text NOT NULL CHECK (locale IN ('ja', 'en')),
        calls_placed  integer NOT NULL DEFAULT 0,
        calls         jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(calls) = 'array'),
        provider      text,
        call_id       text,
        outcome       text,
        created_at    timestamptz NOT NULL,
        checked_at    timestamptz,
        expires_at    timestamptz,
        updated_at    timestamptz NOT NULL,
        CHECK ((status = 'checking') = (checked_at IS NULL)),
        CHECK (status = 'checking' OR phone_sealed IS NULL)
      )`);
    await q.query(`CREATE INDEX voice_contract_checks_phone_idx ON voice_contract_checks (phone_hash, created_at DESC)`);
    await q.query(`ALTER TABLE api_clients ADD COLUMN voice_contract jsonb CHECK (jsonb_typeof(voice_contract) = 'object')`);
    await q.query(`ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check, ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('sms', 'voice', 'webhook', 'check_call'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM outbox WHERE kind = 'check_call'`);
    await q.query(`ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check, ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('sms', 'voice', 'webhook'))`);
    await q.query(`ALTER TABLE api_clients DROP COLUMN voice_contract`);
    await q.query(`DROP TABLE voice_contract_checks`);
  }
}
