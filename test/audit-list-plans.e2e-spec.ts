/**
 * The audit list's plan for "a client within a time window" on a trail of many clients stored in time order: the
 * page's seqs come from an index-only scan of audit_events_client_time_seq_idx, and only the page's events are read.
 * The list as it was (one query ordered by seq) read every event of the window, all clients', through the table
 * by occurred_at: at 10 million events, p95 527 ms for windows of 1 to 24 hours (BENCH_EVENTS=10000000 npm run bench:audit).
 * The statement is the reader's own, recorded as it runs, then planned with EXPLAIN.
 */
import { DataSource, EntityManager } from 'typeorm';
import { AuditReader } from '../src/audit/audit-reader.service';
import { AuditService } from '../src/audit/audit.service';
import { Clock } from '../src/common/clock';
import { AppConfig } from '../src/config/app-config';
import { dataSourceOptions } from '../src/database/data-source-options';
import { createTestDatabase, TestDatabase } from './support/database';
import { PlanNode, scansOf } from './support/plans';

describe('audit list: a client within a time window', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let reader: AuditReader;
  const EVENTS = 400_000;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(dataSourceOptions(db.url, 2));
    await ds.initialize();
    await ds.runMigrations();
    // 50 clients' events over 30 days, in time order (as a trail is written), then ANALYZEd
    await ds.query(
      `INSERT INTO audit_events (id, type, occurred_at, client_id, actor_type, data)
       SELECT 'evt_PLAN' || lpad(k::text, 22, '0'), 'verification.created', now() - interval '30 days' + k * interval '6480 ms',
              'cli_PLAN' || lpad((k % 50)::text, 4, '0'), 'client', '{}'::jsonb
         FROM generate_series(0, ${EVENTS - 1}) AS k ORDER BY k`,
    );
    await ds.query(`VACUUM ANALYZE audit_events`);
    const config = AppConfig.fromEnv({ NODE_ENV: 'development', AUDIT_PHONE_HASH_KEY: 'ab'.repeat(32) });
    reader = new AuditReader(ds, new AuditService(new Clock(), config), config);
  }, 120_000);

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  async function plan(sql: string, params: unknown[]): Promise<PlanNode> {
    const [row] = await ds.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
    return row['QUERY PLAN'][0].Plan as PlanNode;
  }

  it('finds the page by an index-only scan of the window, and reads only the page from the table', async () => {
    const [{ mid }] = await ds.query(`SELECT occurred_at AS mid FROM audit_events WHERE id = 'evt_PLAN' || lpad('${EVENTS / 2}', 22, '0')`);
    const filters = { clientId: 'cli_PLAN0007', from: new Date(mid.getTime() - 24 * 3_600_000), to: mid as Date };
    const seen: Array<{ sql: string; params: unknown[] }> = [];
    const recording = { query: (sql: string, params: unknown[]) => (seen.push({ sql, params }), ds.manager.query(sql, params)) } as unknown as EntityManager;

    const page = await reader.list(filters, 100, undefined, recording);
    expect(page.items).toHaveLength(100);
    // the right page: the client's newest 100 events of the window, newest first
    const expected = await ds.query(`SELECT id FROM audit_events WHERE client_id = $1 AND occurred_at >= $2 AND occurred_at < $3 ORDER BY seq DESC LIMIT 100`, [
      filters.clientId,
      filters.from,
      filters.to,
    ]);
    expect(page.items.map((e) => e.id)).toEqual(expected.map((r: { id: string }) => r.id));

    const [{ sql, params }] = seen;
    const scans = scansOf(await plan(sql, params), 'audit_events');
    expect(scans.map((s) => [s['Node Type'], s['Index Name']])).toEqual(
      expect.arrayContaining([
        ['Index Only Scan', 'audit_events_client_time_seq_idx'],
        ['Index Scan', 'audit_events_seq_key'],
      ]),
    );
    expect(scans.some((s) => s['Index Name'] === 'audit_events_occurred_at_idx' || s['Node Type'] === 'Seq Scan')).toBe(false);

    // the set-up is one where the list as it was read the window through the table
    const before = sql.replace(/^[^]*?SELECT e\.seq FROM audit_events e (WHERE [^]*?) ORDER BY e\.seq DESC LIMIT (\$\d+)\)[^]*$/, 'SELECT e.* FROM audit_events e $1 ORDER BY e.seq DESC LIMIT $2');
    expect(before).not.toBe(sql);
    expect(scansOf(await plan(before, params), 'audit_events').some((s) => s['Index Name'] === 'audit_events_occurred_at_idx')).toBe(true);
  });
});

/**
 * The audit list's filter by number: found through audit_events_phone_prefix_idx (the first 8 bytes of the number's
 * HMAC, then seq), checked against the whole HMAC, so an event of another number sharing the prefix is not listed. The
 * index is the one a start writes at a random place; keyed by the prefix it is about 40 % smaller than by the whole HMAC.
 */
describe('audit list: one number', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let audit: AuditService;
  let reader: AuditReader;
  const NUMBERS = 20_000;
  const PER_NUMBER = 10;
  const target = '+819012345678';

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(dataSourceOptions(db.url, 2));
    await ds.initialize();
    await ds.runMigrations();
    const config = AppConfig.fromEnv({ NODE_ENV: 'development', AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32) });
    audit = new AuditService(new Clock(), config);
    reader = new AuditReader(ds, audit, config);
    const hash = audit.phoneHash(target);
    // 20,000 numbers' events interleaved in time, the target's among them, and one event of another number whose
    // HMAC shares the target's first 8 bytes
    await ds.query(
      `INSERT INTO audit_events (id, type, occurred_at, client_id, phone_hash, phone_masked, actor_type, data)
       SELECT 'evt_PHON' || lpad(k::text, 22, '0'), 'verification.created', now() - interval '1 day' + k * interval '100 ms', 'cli_PHON0001',
              CASE WHEN k % ${NUMBERS} = 7 THEN $1::bytea ELSE sha256(convert_to('n' || (k % ${NUMBERS}), 'UTF8')) END, '+81*******5678', 'client', '{}'::jsonb
         FROM generate_series(0, ${NUMBERS * PER_NUMBER - 1}) AS k ORDER BY k`,
      [hash],
    );
    await ds.query(
      `INSERT INTO audit_events (id, type, occurred_at, client_id, phone_hash, phone_masked, actor_type, data)
       VALUES ('evt_PHONCOLLISION000000000000', 'verification.created', now(), 'cli_PHON0001', $1, '+81*******0000', 'client', '{}'::jsonb)`,
      [Buffer.concat([hash.subarray(0, 8), Buffer.alloc(24, 0xee)])],
    );
    await ds.query(`VACUUM ANALYZE audit_events`);
  }, 120_000);

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it("lists the number's events only, found through the prefix index", async () => {
    const seen: Array<{ sql: string; params: unknown[] }> = [];
    const recording = { query: (sql: string, params: unknown[]) => (seen.push({ sql, params }), ds.manager.query(sql, params)) } as unknown as EntityManager;
    const page = await reader.list({ phoneNumber: target }, 100, undefined, recording);

    const expected = await ds.query(`SELECT id FROM audit_events WHERE phone_hash = $1 ORDER BY seq DESC`, [audit.phoneHash(target)]);
    expect(expected).toHaveLength(PER_NUMBER);
    expect(page.items.map((e) => e.id)).toEqual(expected.map((r: { id: string }) => r.id));
    expect(page.items.map((e) => e.id)).not.toContain('evt_PHONCOLLISION000000000000');
    expect(page.nextCursor).toBeNull();

    const [{ sql, params }] = seen;
    const [row] = await ds.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
    const plan = row['QUERY PLAN'][0].Plan as PlanNode;
    const indexes = (n: PlanNode): string[] => [...(n['Index Name'] ? [n['Index Name']] : []), ...(n.Plans ?? []).flatMap(indexes)];
    expect(indexes(plan)).toContain('audit_events_phone_prefix_idx');
    // estimated from the index expression's statistics (10 events of a number), not PostgreSQL's default 0.5 % of
    // the trail (1,000 here, 200,000 at 40 million events, where the cost made the query compiled with JIT)
    const estimate = (n: PlanNode): number[] => [
      ...(n['Index Name'] === 'audit_events_phone_prefix_idx' ? [(n as PlanNode & { 'Plan Rows': number })['Plan Rows']] : []),
      ...(n.Plans ?? []).flatMap(estimate),
    ];
    expect(Math.max(...estimate(plan))).toBeLessThan(100);
    expect(scansOf(plan, 'audit_events').some((s) => s['Node Type'] === 'Seq Scan')).toBe(false);
  });

  it('keeps the index at about 60 % of one keyed by the whole HMAC', async () => {
    // both built by one sort (the prefix index as it was inserted into has split pages)
    await ds.query(`REINDEX INDEX audit_events_phone_prefix_idx`);
    await ds.query(`CREATE INDEX whole_hmac_idx ON audit_events (phone_hash, seq)`);
    try {
      const [{ prefix, whole }] = await ds.query(
        `SELECT pg_relation_size('audit_events_phone_prefix_idx')::float8 AS prefix, pg_relation_size('whole_hmac_idx')::float8 AS whole`,
      );
      expect(prefix / whole).toBeLessThan(0.65);
    } finally {
      await ds.query(`DROP INDEX whole_hmac_idx`);
    }
  });
});
