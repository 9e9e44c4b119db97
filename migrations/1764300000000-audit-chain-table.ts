import { MigrationInterface, QueryRunner } from 'typeorm';
import { AUDIT_CHECKPOINTS_APPEND_ONLY_V1, AUDIT_EVENTS_APPEND_ONLY_V1 } from './1764100000000-audit';

/**
 * Audit events get their sequence number when they are inserted, and the chain links move to their own
 * insert-only table (see docs/audit.md):
 * - audit_events.seq comes from the sequence audit_event_seq, through audit_next_seq(), which first makes
 *   sure the inserting transaction has its transaction id. That lets the sequencer know when every number
 *   up to a point is settled (committed, or rolled back for good) without any lock on the write path.
 * - audit_chain (seq, prev_hash, hash): one row per chained event, inserted by the sequencer. Before, the
 *   sequencer updated each event to fill these columns; as seq is indexed, every such update wrote a new row
 *   version and a new entry in every index of audit_events: the chain doubled the trail's write cost.
 * - audit_events is now never updated by anyone (the trigger refuses every UPDATE). An insert into the part
 *   of the trail already chained is refused too.
 * Events not chained yet when this runs get their numbers here, in the order the sequencer would have
 * taken them.
 */
export class AuditChainTable1764300000000 implements MigrationInterface {
  name = 'AuditChainTable1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_chain (
        seq bigint PRIMARY KEY,
        prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
        hash bytea NOT NULL CHECK (octet_length(hash) = 32)
      )`);
    await q.query(`INSERT INTO audit_chain (seq, prev_hash, hash) SELECT seq, prev_hash, hash FROM audit_events WHERE seq IS NOT NULL`);

    await q.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
    await q.query(`
      UPDATE audit_events AS e SET seq = n.seq
        FROM (SELECT id, (SELECT coalesce(max(seq), 0) FROM audit_events) + row_number() OVER (ORDER BY occurred_at, id) AS seq
                FROM audit_events WHERE seq IS NULL) AS n
       WHERE e.id = n.id`);
    await q.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
    await q.query(`ALTER TABLE audit_events DROP CONSTRAINT audit_events_chained_together`);
    await q.query(`DROP INDEX audit_events_unchained_idx`);
    await q.query(`ALTER TABLE audit_events DROP COLUMN prev_hash, DROP COLUMN hash`);

    await q.query(`CREATE SEQUENCE audit_event_seq AS bigint OWNED BY audit_events.seq`);
    await q.query(`SELECT setval('audit_event_seq', (SELECT coalesce(max(seq), 0) FROM audit_events) + 1, false)`);
    // The transaction id first, then the number: a transaction holding a number is always visible in a
    // snapshot taken after the number was handed out (AuditSequencer.settledUpTo relies on it).
    await q.query(`
      CREATE FUNCTION audit_next_seq() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM pg_current_xact_id();
        RETURN nextval('audit_event_seq');
      END $$`);
    await q.query(`ALTER TABLE audit_events ALTER COLUMN seq SET DEFAULT audit_next_seq(), ALTER COLUMN seq SET NOT NULL`);

    await q.query(`
      CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          -- New events come after the chained part; nothing is slipped in behind the sequencer.
          IF NEW.seq <= (SELECT seq FROM audit_chain_head WHERE id = 1) THEN
            RAISE EXCEPTION 'audit_events: seq % is already chained; events get their seq from audit_next_seq()', NEW.seq
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NEW;
        ELSIF TG_OP = 'DELETE' THEN
          -- Retention only: inside a transaction that declared itself (SET LOCAL otp.audit_retention),
          -- and only events at or below the latest sealed checkpoint.
          IF current_setting('otp.audit_retention', true) = 'archive'
             AND OLD.seq <= (SELECT coalesce(max(seq), 0) FROM audit_checkpoints) THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'audit_events is append-only: event % cannot be deleted', OLD.id
            USING ERRCODE = 'insufficient_privilege';
        ELSIF TG_OP = 'UPDATE' THEN
          RAISE EXCEPTION 'audit_events is append-only: event % cannot be changed', OLD.id
            USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: % is refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);

    await q.query(`
      CREATE FUNCTION audit_chain_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          -- Links are appended after the head, in the sequencer's transaction that then moves the head.
          IF NEW.seq <= (SELECT seq FROM audit_chain_head WHERE id = 1) THEN
            RAISE EXCEPTION 'audit_chain: seq % is behind the chain head', NEW.seq USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NEW;
        ELSIF TG_OP = 'DELETE' THEN
          IF current_setting('otp.audit_retention', true) = 'archive'
             AND OLD.seq <= (SELECT coalesce(max(seq), 0) FROM audit_checkpoints) THEN
            RETURN OLD;
          END IF;
        END IF;
        RAISE EXCEPTION 'audit_chain is append-only: % is refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_chain_append_only BEFORE INSERT OR UPDATE OR DELETE ON audit_chain
        FOR EACH ROW EXECUTE FUNCTION audit_chain_append_only()`);
    await q.query(`
      CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
        FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_append_only()`);

    await q.query(`
      CREATE OR REPLACE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          -- A checkpoint seals a real chained event, past the previous checkpoint.
          IF NOT EXISTS (SELECT 1 FROM audit_chain c JOIN audit_events e ON e.seq = c.seq WHERE c.seq = NEW.seq AND c.hash = NEW.hash) THEN
            RAISE EXCEPTION 'audit checkpoint % does not match a chained event', NEW.seq USING ERRCODE = 'check_violation';
          END IF;
          IF NEW.seq <= (SELECT coalesce(max(seq), 0) FROM audit_checkpoints) THEN
            RAISE EXCEPTION 'audit checkpoint % is not past the latest one', NEW.seq USING ERRCODE = 'check_violation';
          END IF;
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_checkpoints is append-only: % is refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
    await q.query(`ALTER TABLE audit_events ALTER COLUMN seq DROP DEFAULT, ALTER COLUMN seq DROP NOT NULL`);
    await q.query(`DROP FUNCTION audit_next_seq()`);
    await q.query(`DROP SEQUENCE audit_event_seq`);
    await q.query(`ALTER TABLE audit_events ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea`);
    await q.query(`UPDATE audit_events AS e SET prev_hash = c.prev_hash, hash = c.hash FROM audit_chain c WHERE c.seq = e.seq`);
    await q.query(`UPDATE audit_events SET seq = NULL WHERE hash IS NULL`);
    await q.query(`
      ALTER TABLE audit_events ADD CONSTRAINT audit_events_chained_together CHECK (
        (seq IS NULL AND prev_hash IS NULL AND hash IS NULL) OR
        (seq IS NOT NULL AND octet_length(prev_hash) = 32 AND octet_length(hash) = 32))`);
    await q.query(`CREATE INDEX audit_events_unchained_idx ON audit_events (occurred_at, id) WHERE seq IS NULL`);
    await q.query(AUDIT_EVENTS_APPEND_ONLY_V1);
    await q.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
    await q.query(AUDIT_CHECKPOINTS_APPEND_ONLY_V1);
    await q.query(`DROP TABLE audit_chain`);
    await q.query(`DROP FUNCTION audit_chain_append_only()`);
  }
}
