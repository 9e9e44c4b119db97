import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The check that new chain links come after the head (nothing slipped in behind the sequencer) runs once per
 * INSERT statement instead of once per row. The sequencer inserts a batch of links in one statement; the row
 * trigger ran a PL/pgSQL call and a read of audit_chain_head for every link, which doubled PostgreSQL's cost of
 * inserting a link (200,000 links: 7.5–10.4 µs each with it, 3.8–4.1 without, on the 2-core bench machine). The
 * statement trigger reads the inserted links from a transition table: same refusal, same message, one call.
 * UPDATE and DELETE keep the row trigger (retention deletes only at or below a checkpoint; nothing updates).
 */
export class AuditChainInsertCheckPerStatement1766200000000 implements MigrationInterface {
  name = 'AuditChainInsertCheckPerStatement1766200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION audit_chain_links_after_head() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        behind bigint;
      BEGIN
        -- Links are appended after the head, in the sequencer's transaction that then moves the head.
        SELECT min(l.seq) INTO behind FROM new_links l WHERE l.seq <= (SELECT seq FROM audit_chain_head WHERE id = 1);
        IF behind IS NOT NULL THEN
          RAISE EXCEPTION 'audit_chain: seq % is behind the chain head', behind USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`DROP TRIGGER audit_chain_append_only ON audit_chain`);
    await q.query(`
      CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
        FOR EACH ROW EXECUTE FUNCTION audit_chain_append_only()`);
    await q.query(`
      CREATE TRIGGER audit_chain_links_after_head AFTER INSERT ON audit_chain
        REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_links_after_head()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER audit_chain_links_after_head ON audit_chain`);
    await q.query(`DROP FUNCTION audit_chain_links_after_head()`);
    await q.query(`DROP TRIGGER audit_chain_append_only ON audit_chain`);
    // audit_chain_append_only() still holds its INSERT branch (1764300000000): the row trigger checks inserts again
    await q.query(`
      CREATE TRIGGER audit_chain_append_only BEFORE INSERT OR UPDATE OR DELETE ON audit_chain
        FOR EACH ROW EXECUTE FUNCTION audit_chain_append_only()`);
  }
}
