import { DataSource } from 'typeorm';
import { chainHash, ChainVerifier } from '../src/audit/audit-chain';
import { fromRow } from '../src/audit/audit-rows';
import { migrations } from '../migrations';
import { dataSourceOptions } from '../src/database/data-source-options';
import { createTestDatabase, TestDatabase } from './support/database';

/** Migration 1764300000000-audit-chain-table on a trail written under the earlier schema, and back. */
describe('audit trail: moving to numbers on insert and the chain table (real PostgreSQL)', () => {
  let db: TestDatabase;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(dataSourceOptions(db.url, 2));
    await ds.initialize();
  });
  /** Back to the schema before the chain-table migration, undoing every later migration first. */
  async function undoThroughChainTable(): Promise<void> {
    const at = migrations.findIndex((m) => m.name === 'AuditChainTable1764300000000');
    for (let i = migrations.length - 1; i >= at; i--) await ds.undoLastMigration();
  }

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('numbers the events left unchained in the order the old sequencer took them, keeps old links, and reverts', async () => {
    await ds.runMigrations();
    await undoThroughChainTable();
    // Under the earlier schema: one event chained by the old sequencer's update, two not chained yet.
    const zero = Buffer.alloc(32);
    await db.query(`INSERT INTO audit_events (id, type, occurred_at, actor_type) VALUES ('evt_OLD1', 'x.first', '2026-01-01T00:00:00Z', 'system')`);
    const [old] = await db.query<any>(`SELECT * FROM audit_events WHERE id = 'evt_OLD1'`);
    const hash = chainHash(zero, { ...fromRow({ ...old, seq: '1' }) });
    await db.query(`UPDATE audit_events SET seq = 1, prev_hash = $1, hash = $2 WHERE id = 'evt_OLD1'`, [zero, hash]);
    await db.query(`UPDATE audit_chain_head SET seq = 1, hash = $1`, [hash]);
    await db.query(`INSERT INTO audit_events (id, type, occurred_at, actor_type) VALUES ('evt_OLD3', 'x.later', '2026-01-01T00:00:02Z', 'system')`);
    await db.query(`INSERT INTO audit_events (id, type, occurred_at, actor_type) VALUES ('evt_OLD2', 'x.earlier', '2026-01-01T00:00:01Z', 'system')`);

    await ds.runMigrations();
    expect(await db.query(`SELECT id, seq::int FROM audit_events ORDER BY seq`)).toEqual([
      { id: 'evt_OLD1', seq: 1 },
      { id: 'evt_OLD2', seq: 2 },
      { id: 'evt_OLD3', seq: 3 },
    ]);
    expect(await db.query(`SELECT seq::int, hash FROM audit_chain`)).toEqual([{ seq: 1, hash }]);
    // new events are numbered after them
    await db.query(`INSERT INTO audit_events (id, type, occurred_at, actor_type) VALUES ('evt_NEW', 'x.new', now(), 'system')`);
    expect((await db.query<any>(`SELECT seq::int FROM audit_events WHERE id = 'evt_NEW'`))[0].seq).toBe(4);
    const v = new ChainVerifier();
    expect(v.push({ ...fromRow({ ...old, seq: '1' }), prevHash: zero, hash })).toBe(true);

    await undoThroughChainTable();
    expect(await db.query(`SELECT id, seq::int, hash FROM audit_events ORDER BY id`)).toEqual([
      { id: 'evt_NEW', seq: null, hash: null },
      { id: 'evt_OLD1', seq: 1, hash },
      { id: 'evt_OLD2', seq: null, hash: null },
      { id: 'evt_OLD3', seq: null, hash: null },
    ]);
    // the earlier trigger is back: the old sequencer's fill is allowed again, any other change is not
    await db.query(`UPDATE audit_events SET seq = 2, prev_hash = $1, hash = $1 WHERE id = 'evt_OLD2'`, [hash]);
    await expect(db.query(`UPDATE audit_events SET type = 'x.changed' WHERE id = 'evt_OLD1'`)).rejects.toThrow(/append-only/);
  });
});
