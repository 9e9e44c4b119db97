import { MigrationInterface, QueryRunner } from 'typeorm';

export class Verifications1764200000000 implements MigrationInterface {
  name = 'Verifications1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_clients ADD COLUMN max_check_attempts integer CHECK (max_check_attempts BETWEEN 1 AND 20)`);
    await q.query(`
      CREATE TABLE verifications (
        id text PRIMARY KEY,
        client_id text NOT NULL REFERENCES api_clients(id),
        phone_e164 text NOT NULL,
        country text,
        channel text NOT NULL CHECK (channel IN ('sms', 'voice')),
        purpose text NOT NULL,
        locale text NOT NULL,
        status text NOT NULL CHECK (status IN ('screening', 'pending', 'approved', 'expired', 'locked', 'canceled', 'denied', 'failed')),
        code_hmac bytea NOT NULL,
        code_key_id text NOT NULL,
        code_length smallint NOT NULL,
        ttl_seconds integer NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL,
        sends integer NOT NULL DEFAULT 1,
        max_sends integer NOT NULL,
        expires_at timestamptz NOT NULL,
        resend_available_at timestamptz NOT NULL,
        transaction jsonb,
        reference text,
        callback_url text,
        risk jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        approved_at timestamptz
      )`);
    await q.query(`CREATE INDEX verifications_client_created_idx ON verifications (client_id, created_at DESC)`);
    await q.query(`CREATE INDEX verifications_open_expiry_idx ON verifications (expires_at) WHERE status IN ('pending', 'screening')`);

    // Every code sent, per number, across all clients: the per-number send limits count these.
    await q.query(`
      CREATE TABLE phone_sends (
        phone_e164 text NOT NULL,
        sent_at timestamptz NOT NULL,
        verification_id text NOT NULL
      )`);
    await q.query(`CREATE INDEX phone_sends_phone_at_idx ON phone_sends (phone_e164, sent_at DESC)`);
    // Every wrong code, per number, across verifications: caps guessing by starting over.
    await q.query(`
      CREATE TABLE phone_check_failures (
        phone_e164 text NOT NULL,
        failed_at timestamptz NOT NULL,
        verification_id text NOT NULL
      )`);
    await q.query(`CREATE INDEX phone_check_failures_phone_at_idx ON phone_check_failures (phone_e164, failed_at DESC)`);

    await q.query(`
      CREATE TABLE idempotency_keys (
        client_id text NOT NULL,
        key text NOT NULL,
        request_hash bytea NOT NULL,
        response_status integer,
        response_body json, -- json, not jsonb: a replay returns the first answer byte for byte
        created_at timestamptz NOT NULL,
        PRIMARY KEY (client_id, key)
      )`);

    // The durable outbox: messages to send (sms, voice) and result webhooks, dispatched after commit.
    await q.query(`
      CREATE TABLE outbox (
        id text PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('sms', 'voice', 'webhook')),
        verification_id text,
        client_id text,
        payload bytea,
        status text NOT NULL CHECK (status IN ('pending', 'sending', 'done', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL,
        next_attempt_at timestamptz NOT NULL,
        locked_until timestamptz,
        last_error text,
        delivery_status text NOT NULL DEFAULT 'queued' CHECK (delivery_status IN ('queued', 'sent', 'delivered', 'undelivered', 'failed')),
        provider text,
        provider_message_id text,
        segments integer,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX outbox_stuck_idx ON outbox (locked_until) WHERE status = 'sending'`);
    await q.query(`CREATE INDEX outbox_verification_idx ON outbox (verification_id, created_at DESC)`);
    await q.query(`
      CREATE TABLE outbox_attempts (
        outbox_id text NOT NULL REFERENCES outbox(id),
        attempt integer NOT NULL,
        provider text,
        ok boolean NOT NULL,
        status_code integer,
        error text,
        duration_ms integer NOT NULL,
        attempted_at timestamptz NOT NULL,
        PRIMARY KEY (outbox_id, attempt)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE outbox_attempts`);
    await q.query(`DROP TABLE outbox`);
    await q.query(`DROP TABLE idempotency_keys`);
    await q.query(`DROP TABLE phone_check_failures`);
    await q.query(`DROP TABLE phone_sends`);
    await q.query(`DROP TABLE verifications`);
    await q.query(`ALTER TABLE api_clients DROP COLUMN max_check_attempts`);
  }
}
