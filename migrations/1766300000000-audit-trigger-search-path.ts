import { MigrationInterface, QueryRunner } from 'typeorm';

/** The audit trail's trigger functions and the numbering function, which name its tables and sequence unqualified. */
export const AUDIT_GUARD_FUNCTIONS = [
  'audit_events_append_only()',
  'audit_chain_append_only()',
  'audit_chain_links_after_head()',
  'audit_chain_head_forward_only()',
  'audit_checkpoints_append_only()',
  'audit_next_seq()',
];

/**
 * The append-only guards read audit_chain_head, audit_checkpoints, audit_chain and audit_events (and audit_next_seq
 * the sequence audit_event_seq) by unqualified name, through the search_path of whoever inserts or deletes. The
 * session's temporary schema comes first in every search_path unless it is listed, and any role may create
 * temporary tables by default: the application's own role could create a temporary `audit_chain_head` with seq −1
 * and then insert links behind the real head, or a temporary `audit_checkpoints` and then delete any event or link
 * as retention does. Each function now runs with its search_path pinned to the schema the trail lives in (the
 * migration's current schema) with pg_temp listed last, so a temporary table can no longer stand in for the real one.
 */
export class AuditTriggerSearchPath1766300000000 implements MigrationInterface {
  name = 'AuditTriggerSearchPath1766300000000';

  async up(q: QueryRunner): Promise<void> {
    const [{ path }] = (await q.query(`SELECT format('pg_catalog, %I, pg_temp', current_schema()) AS path`)) as Array<{ path: string }>;
    for (const fn of AUDIT_GUARD_FUNCTIONS) await q.query(`ALTER FUNCTION ${fn} SET search_path = ${path}`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const fn of AUDIT_GUARD_FUNCTIONS) await q.query(`ALTER FUNCTION ${fn} RESET search_path`);
  }
}
