import { MigrationInterface, QueryRunner } from 'typeorm';

/** The trigger functions that guard the audit trail's tables; they name the tables unqualified. */
export const AUDIT_GUARD_FUNCTIONS = [
  'audit_events_append_only()',
  'audit_chain_append_only()',
  'audit_chain_links_after_head()',
  'audit_chain_head_forward_only()',
  'audit_checkpoints_append_only()',
];

/**
 * The append-only guards read audit_chain_head, audit_checkpoints, audit_chain and audit_events by unqualified
 * name, through the search_path of whoever inserts or deletes. The session's temporary schema comes first in
 * every search_path unless it is listed, and any role may create temporary tables by default: the application's own
 * role could create a temporary `audit_chain_head` with seq −1 and then insert links or events behind the real head.
 * - Each guard now runs with its search_path pinned to the schema the trail lives in (the migration's current
 *   schema), after pg_catalog and with pg_temp listed last, so a temporary table no longer stands in for the real
 *   one. A later `CREATE OR REPLACE` of a guard drops the pin: give it `SET search_path` in its definition
 *   (test/audit-integrity.e2e-spec.ts checks every guard has one).
 * - audit_next_seq(), the default of audit_events.seq, runs for every event: instead of a pin (a search_path switch
 *   per call) it names everything qualified. Its `nextval('audit_event_seq')` could otherwise resolve to a
 *   `nextval(text)` created in a schema that PUBLIC may create in (PostgreSQL 14 and older by default), and run that
 *   function as whoever inserts an event.
 */
export class AuditTriggerSearchPath1766300000000 implements MigrationInterface {
  name = 'AuditTriggerSearchPath1766300000000';

  async up(q: QueryRunner): Promise<void> {
    const [{ path, seq }] = (await q.query(
      `SELECT format('pg_catalog, %I, pg_temp', current_schema()) AS path, quote_literal(format('%I.audit_event_seq', current_schema())) AS seq`,
    )) as Array<{ path: string; seq: string }>;
    for (const fn of AUDIT_GUARD_FUNCTIONS) await q.query(`ALTER FUNCTION ${fn} SET search_path = ${path}`);
    await q.query(`
      CREATE OR REPLACE FUNCTION audit_next_seq() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM pg_catalog.pg_current_xact_id();
        RETURN pg_catalog.nextval(${seq}::pg_catalog.regclass);
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const fn of AUDIT_GUARD_FUNCTIONS) await q.query(`ALTER FUNCTION ${fn} RESET search_path`);
    // as 1764300000000 created it
    await q.query(`
      CREATE OR REPLACE FUNCTION audit_next_seq() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM pg_current_xact_id();
        RETURN nextval('audit_event_seq');
      END $$`);
  }
}
