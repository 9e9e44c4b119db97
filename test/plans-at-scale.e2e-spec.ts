/**
 * Query plans that must not depend on the statistics. With millions of final verifications, ANALYZE sees almost no
 * open ones, so the planner takes both partial indexes of open verifications (by number, by expiry) for near-empty.
 * The statements that look up a number's open verifications must then still go by the number (or by id), never
 * scan every open verification: the supersede of a start did so once per open verification, 2.8 s per start with
 * 1,554 open among 10 million (BENCH_SEED=10000000). The sweeper must still find expired ones by expiry.
 *
 * The statements are the repository's own, run for real through a Tx on a database seeded by the bench's seeder
 * (final verifications, ANALYZEd) and then given open verifications the statistics do not know about; each is
 * then planned as a prepared statement's generic plan (as the service runs them, named) and its plan checked.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DataSource, EntityManager } from 'typeorm';
import { OLDEST_UNCHAINED_SQL } from '../src/audit/audit.metrics';
import { Tx } from '../src/common/tx';
import { dataSourceOptions } from '../src/database/data-source-options';
import { OVERDUE_SQL } from '../src/gateway/outbox.repository';
import { VerificationsRepository } from '../src/issuance/verifications.repository';
import { collapseShardsParams, collapseShardsSql } from '../src/risk/risk-signals.repository';
import { createTestDatabase, TestDatabase } from './support/database';
import { PlanNode, scansOf } from './support/plans';

const scans = (plan: PlanNode) => scansOf(plan, 'verifications');

const ROOT = path.resolve(__dirname, '..');
const { seed } = createRequire(__filename)('../bench/seed.js') as { seed(o: { url: string; count: number; clientId: string }): Promise<unknown> };

describe('query plans with millions of final verifications', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let clientId: string;
  const repo = new VerificationsRepository();

  /** The generic plan of `sql` with `params` (PREPARE, then EXPLAIN EXECUTE: planned, not run). */
  async function genericPlan(sql: string, params: unknown[]): Promise<PlanNode> {
    const [{ plan }] = await ds.transaction(async (m) => {
      await m.query(`SET LOCAL plan_cache_mode = force_generic_plan`);
      await m.query(`PREPARE planned AS ${sql}`);
      const text = (v: unknown) => (Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : v instanceof Date ? v.toISOString() : String(v));
      const literal = (v: unknown) => (v === null || v === undefined ? 'NULL' : `'${text(v).replace(/'/g, "''")}'`);
      const rows = await m.query(`EXPLAIN (FORMAT JSON) EXECUTE planned${params.length ? `(${params.map(literal).join(', ')})` : ''}`);
      await m.query(`DEALLOCATE planned`);
      return rows.map((r: { 'QUERY PLAN': Array<{ Plan: PlanNode }> }) => ({ plan: r['QUERY PLAN'][0].Plan }));
    });
    return plan;
  }

  /** The statements `fn` makes through a Tx (run for real, in a transaction rolled back afterwards). */
  async function statementsOf(fn: (tx: Tx) => Promise<unknown>): Promise<Array<{ sql: string; params: unknown[] }>> {
    const seen: Array<{ sql: string; params: unknown[] }> = [];
    await ds
      .transaction(async (m) => {
        const recording = { query: (sql: string, params: unknown[] = []) => (seen.push({ sql, params }), m.query(sql, params)) } as unknown as EntityManager;
        await fn(new Tx(recording));
        throw new Error('rollback');
      })
      .catch((err: Error) => {
        if (err.message !== 'rollback') throw err;
      });
    return seen;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    execFileSync(process.execPath, ['dist/src/cli.js', 'clients:create', '--name', 'bench', '--scopes', 'verifications:write'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DATABASE_URL: db.url, NODE_ENV: 'production', OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32), AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32) },
    });
    [{ id: clientId }] = await db.query<{ id: string }>(`SELECT id FROM api_clients WHERE name = 'bench'`);
    await seed({ url: db.url, count: 30_000, clientId }); // ends with VACUUM ANALYZE: no open verification in the statistics
    // open verifications the statistics do not know about (a few minutes of a busy service's starts)
    await db.query(
      `UPDATE verifications SET status = CASE WHEN id < 'vrf_SEED' || lpad('100', 22, '0') THEN 'screening' ELSE 'pending' END, expires_at = now() + interval '5 minutes'
        WHERE id < 'vrf_SEED' || lpad('1500', 22, '0')`,
    );
    ds = new DataSource(dataSourceOptions(db.url, 2));
    await ds.initialize();
  }, 180_000);

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('the setting is the one that misled the planner: the supersede as it was scans open verifications without a key', async () => {
    const before = `UPDATE verifications v SET status = 'canceled', updated_at = $3
         FROM (SELECT id, status FROM verifications WHERE phone_e164 = $2 AND client_id = $1 AND status IN ('screening', 'pending') FOR UPDATE) prev
        WHERE v.id = prev.id AND v.status IN ('screening', 'pending') RETURNING v.*, prev.status AS previous_status`;
    const unkeyed = scans(await genericPlan(before, [clientId, '+819099999999', new Date()])).filter((s) => !s['Index Cond']);
    expect(unkeyed.length).toBeGreaterThan(0);
  });

  it('a start supersedes by number and then by id, and a screening is locked by number', async () => {
    const statements = await statementsOf(async (tx) => {
      await repo.supersedeOpen(tx, clientId, '+818000000001', new Date());
      await repo.lockScreening(tx, '+818000000002', new Date());
    });
    expect(statements).toHaveLength(2);
    for (const { sql, params } of statements) {
      const found = scans(await genericPlan(sql, params));
      expect(found.length).toBeGreaterThan(0);
      for (const s of found) {
        // an index scan with a key: the number's index on the number, or the primary key on the id
        expect([s['Node Type'], s['Index Name'], s['Index Cond']]).toEqual([
          expect.stringMatching(/^Index (Only )?Scan$/),
          expect.stringMatching(/^verifications_(open_phone_idx|pkey)$/),
          expect.stringMatching(/phone_e164 = |id = /),
        ]);
      }
    }
  });

  it('every transition of one verification goes by its id (the primary key), whatever the statistics', async () => {
    const id = 'vrf_SEED' + '1234'.padStart(22, '0');
    const now = new Date();
    const risk = { decision: 'allow', reasons: [], rules: [] } as never;
    const statements = await statementsOf(async (tx) => {
      await repo.recordCheck(tx, id, Buffer.alloc(32), true, now);
      await repo.resend(tx, id, { codeHmac: Buffer.alloc(32), codeKeyId: 'k1', channel: 'sms', sends: 2, expiresAt: now, resendAvailableAt: now }, now);
      await repo.cancel(tx, id, now);
      await repo.expire(tx, id, now);
      await repo.release(tx, id, { codeHmac: Buffer.alloc(32), codeKeyId: 'k1', expiresAt: now, resendAvailableAt: now, risk }, now);
      await repo.deny(tx, id, risk, now);
      await repo.markFailed(tx, id, now);
    });
    expect(statements).toHaveLength(7);
    for (const { sql, params } of statements) {
      const found = scans(await genericPlan(sql, params));
      expect([sql.slice(0, 60), found.map((s) => [s['Index Name'], s['Index Cond']])]).toEqual([sql.slice(0, 60), [['verifications_pkey', '(id = $1)']]]);
    }
  });

  it("the approvals' fold finds closed buckets' shard rows through their own index, not by reading every counter", async () => {
    // the seeded counters are one row per bucket (shard 0), as the fold leaves them; add the open bucket's shard rows of 500 prefixes
    await db.query(
      `INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started)
       SELECT 'prefix', '8190' || lpad(p::text, 4, '0'), to_timestamp(floor(extract(epoch FROM now()) / 600) * 600), sh, 1 FROM generate_series(0, 499) p, generate_series(0, 7) sh
       ON CONFLICT DO NOTHING`,
    );
    await db.query(`ANALYZE risk_unit_counts`);
    const found = scansOf(await genericPlan(collapseShardsSql, collapseShardsParams(new Date(), 5000)), 'risk_unit_counts');
    expect(found.map((s) => s['Node Type'])).not.toContain('Seq Scan');
    expect(found.some((s) => s['Index Name'] === 'risk_unit_counts_shards_idx' && /bucket < /.test(s['Index Cond'] ?? ''))).toBe(true);
  });

  it("the gauges a scrape reads (outbox overdue, audit chain lag) go through indexes, not through every row", async () => {
    // A backlog of due webhooks (one client's slow receiver) before which the code messages' lookups must not walk.
    await db.query(
      `INSERT INTO outbox (id, kind, status, attempts, max_attempts, next_attempt_at, created_at, updated_at)
       SELECT 'obx_plan_' || g, 'webhook', 'pending', 1, 5, now() - interval '1 hour' + g * interval '100 ms', now(), now() FROM generate_series(1, 20000) g`,
    );
    await db.query(`ANALYZE outbox`);
    const outbox = scansOf(await genericPlan(OVERDUE_SQL, [new Date(), '{sms,voice,webhook,check_call}']), 'outbox');
    expect(outbox.map((s) => s['Node Type'])).not.toContain('Seq Scan');
    expect(outbox.map((s) => s['Index Name']).sort()).toEqual(['outbox_due_idx', 'outbox_due_messages_idx', 'outbox_stuck_idx']);
    await db.query(`DELETE FROM outbox WHERE id LIKE 'obx_plan_%'`);
    const audit = scansOf(await genericPlan(OLDEST_UNCHAINED_SQL, []), 'audit_events');
    expect(audit.map((s) => [s['Node Type'], s['Index Name']])).toEqual([['Index Scan', 'audit_events_seq_key']]);
    const [{ events }] = await db.query<{ events: number }>(`SELECT count(*)::int AS events FROM audit_events`);
    expect(events).toBeGreaterThan(100_000); // the seed's: enough that a scan of every event would not be chosen by chance
  });

  it('the sweeper still finds expired verifications through the expiry index', async () => {
    const [{ sql, params }] = await statementsOf((tx) => repo.expireDue(tx, new Date(), 100));
    const found = scans(await genericPlan(sql, params));
    expect(found.some((s) => s['Index Name'] === 'verifications_open_expiry_idx' && /expires_at <= /.test(s['Index Cond'] ?? ''))).toBe(true);
  });
});
