import { MigrationInterface, QueryRunner } from 'typeorm';

/** The trigger functions as this migration created them (a later migration replaces them and its down() restores these). */
export const AUDIT_EVENTS_APPEND_ONLY_V1 = `
      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL THEN
            RAISE EXCEPTION 'audit_events: seq, prev_hash and hash are set by the sequencer, never on insert'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NEW;
        ELSIF TG_OP = 'UPDATE' THEN
          -- The one update allowed: the sequencer filling seq, prev_hash and hash while all three are
          -- still empty, every other column unchanged. (A new column must be added to this list.)
          IF OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
             AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
             AND NEW.id = OLD.id AND NEW.type = OLD.type AND NEW.occurred_at = OLD.occurred_at
             AND NEW.client_id IS NOT DISTINCT FROM OLD.client_id
             AND NEW.verification_id IS NOT DISTINCT FROM OLD.verification_id
             AND NEW.phone_hash IS NOT DISTINCT FROM OLD.phone_hash
             AND NEW.phone_masked IS NOT DISTINCT FROM OLD.phone_masked
             AND NEW.actor_type = OLD.actor_type
             AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
             AND NEW.ip IS NOT DISTINCT FROM OLD.ip
             AND NEW.data = OLD.data THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION 'audit_events is append-only: event % cannot be changed', OLD.id
            USING ERRCODE = 'insufficient_privilege';
        ELSIF TG_OP = 'DELETE' THEN
          -- Retention only: inside a transaction that declared itself (SET LOCAL otp.audit_retention),
          -- and only events at or below the latest sealed checkpoint.
          IF current_setting('otp.audit_retention', true) = 'archive' AND OLD.seq IS NOT NULL
             AND OLD.seq <= (SELECT coalesce(max(seq), 0) FROM audit_checkpoints) THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'audit_events is append-only: event % cannot be deleted', OLD.id
            USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % is refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`;

export const AUDIT_CHECKPOINTS_APPEND_ONLY_V1 = `
      CREATE OR REPLACE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          -- A checkpoint seals a real chained event, past the previous checkpoint.
          IF NOT EXISTS (SELECT 1 FROM audit_events WHERE seq = NEW.seq AND hash = NEW.hash) THEN
            RAISE EXCEPTION 'audit checkpoint % does not match a chained event', NEW.seq USING ERRCODE = 'check_violation';
          END IF;
          IF NEW.seq <= (SELECT coalesce(max(seq), 0) FROM audit_checkpoints) THEN
            RAISE EXCEPTION 'audit checkpoint % is not past the latest one', NEW.seq USING ERRCODE = 'check_violation';
          END IF;
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_checkpoints is append-only: % is refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`;

/**
 * The audit trail (see src/audit/audit.module.ts and docs/audit.md):
 * - audit_events: append-only. Rows are inserted by business transactions with seq/prev_hash/hash empty;
 *   the sequencer fills those three columns once. A trigger refuses every other UPDATE, every DELETE
 *   (except retention's, below a sealed checkpoint) and TRUNCATE, whoever the database user is
 *   (a superuser can still disable triggers: that is what the hash chain is for).
 * - audit_chain_head: the last chained link, written by the sequencer in the same transaction as the
 *   events it chains; the integrity check compares the walked chain's end with it (a removed tail shows).
 * - audit_checkpoints: sealed points of the chain (retention archives and deletes up to one and the
 *   rest verifies from its hash). Append-only too.
 */
export class Audit1764100000000 implements MigrationInterface {
  name = 'Audit1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_events (
        id text PRIMARY KEY,
        seq bigint,
        type text NOT NULL,
        occurred_at timestamptz(3) NOT NULL,
        client_id text,
        verification_id text,
        phone_hash bytea,
        phone_masked text,
        actor_type text NOT NULL CHECK (actor_type IN ('client', 'admin', 'system', 'provider')),
        actor_id text,
        ip text,
        data jsonb NOT NULL DEFAULT '{}'::jsonb,
        prev_hash bytea,
        hash bytea,
        CONSTRAINT audit_events_seq_key UNIQUE (seq),
        CONSTRAINT audit_events_chained_together CHECK (
          (seq IS NULL AND prev_hash IS NULL AND hash IS NULL) OR
          (seq IS NOT NULL AND octet_length(prev_hash) = 32 AND octet_length(hash) = 32)
        )
      )`);
    // Listing is newest first by seq (keyset), so each filter's index ends with seq; events not yet
    // chained are found through the small partial index, in the order the sequencer takes them.
    await q.query(`CREATE INDEX audit_events_unchained_idx ON audit_events (occurred_at, id) WHERE seq IS NULL`);
    await q.query(`CREATE INDEX audit_events_verification_idx ON audit_events (verification_id, seq) WHERE verification_id IS NOT NULL`);
    await q.query(`CREATE INDEX audit_events_phone_idx ON audit_events (phone_hash, seq) WHERE phone_hash IS NOT NULL`);
    await q.query(`CREATE INDEX audit_events_client_idx ON audit_events (client_id, seq) WHERE client_id IS NOT NULL`);
    // A client within a time window: the few rows in the window are found here, then sorted by seq.
    await q.query(`CREATE INDEX audit_events_client_time_idx ON audit_events (client_id, occurred_at) WHERE client_id IS NOT NULL`);
    await q.query(`CREATE INDEX audit_events_type_idx ON audit_events (type, seq)`);
    await q.query(`CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at)`);

    await q.query(`
      CREATE TABLE audit_chain_head (
        id smallint PRIMARY KEY CHECK (id = 1),
        seq bigint NOT NULL,
        hash bytea NOT NULL CHECK (octet_length(hash) = 32),
        updated_at timestamptz NOT NULL
      )`);
    await q.query(`INSERT INTO audit_chain_head (id, seq, hash, updated_at) VALUES (1, 0, '\\x${'00'.repeat(32)}'::bytea, now())`);

    await q.query(`
      CREATE TABLE audit_checkpoints (
        seq bigint PRIMARY KEY,
        hash bytea NOT NULL CHECK (octet_length(hash) = 32),
        last_occurred_at timestamptz(3) NOT NULL,
        archived_events bigint NOT NULL,
        archive_name text,
        archive_sha256 text,
        created_at timestamptz NOT NULL
      )`);

    await q.query(AUDIT_EVENTS_APPEND_ONLY_V1);
    await q.query(`
      CREATE TRIGGER audit_events_append_only BEFORE INSERT OR UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`);
    await q.query(`
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`);

    await q.query(`
      CREATE FUNCTION audit_chain_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq > OLD.seq THEN
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_chain_head only moves forward (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE OR DELETE ON audit_chain_head
        FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only()`);
    await q.query(`
      CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
        FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_head_forward_only()`);

    await q.query(AUDIT_CHECKPOINTS_APPEND_ONLY_V1);
    await q.query(`
      CREATE TRIGGER audit_checkpoints_append_only BEFORE INSERT OR UPDATE OR DELETE ON audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only()`);
    await q.query(`
      CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_checkpoints`);
    await q.query(`DROP TABLE audit_chain_head`);
    await q.query(`DROP TABLE audit_events`);
    await q.query(`DROP FUNCTION audit_checkpoints_append_only()`);
    await q.query(`DROP FUNCTION audit_chain_head_forward_only()`);
    await q.query(`DROP FUNCTION audit_events_append_only()`);
  }
}
