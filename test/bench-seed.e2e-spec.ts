/**
 * The bench's seeder (bench/seed.js, BENCH_SEED=N): N finished verifications with their rows in every table, four
 * audit events each chained after the events already there (the CLI's, not chained yet), the secondary indexes it
 * dropped built again as they were, the audit trail's triggers still guarding it afterwards, and the sequence
 * moved past the seeded events so that the service's next event follows them. Needs the build (the seeder chains
 * with dist/src/audit/audit-chain.js), as `npm test` and `npm run bench` do.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ChainVerifier } from '../src/audit/audit-chain';
import { CHAINED_COLUMNS, EVENTS_WITH_LINKS, fromRow, AuditEventRow } from '../src/audit/audit-rows';
import { createTestDatabase, TestDatabase } from './support/database';

const ROOT = path.resolve(__dirname, '..');
const { seed } = createRequire(__filename)('../bench/seed.js') as {
  seed(o: { url: string; count: number; clientId: string }): Promise<{ chained: number; detail: string }>;
};

describe('bench: the seeder', () => {
  let db: TestDatabase;
  const N = 1234;
  const indexDefs = () =>
    db.query<{ def: string }>(
      `SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indrelid::regclass::text IN
         ('verifications', 'phone_sends', 'outbox', 'outbox_attempts', 'idempotency_keys', 'risk_number_accounts', 'audit_events', 'audit_chain') ORDER BY 1`,
    );
  const count = async (table: string) => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0].n);

  beforeAll(async () => {
    db = await createTestDatabase();
    // the schema and a client through the CLI, which also records audit events the sequencer has not chained
    execFileSync(process.execPath, ['dist/src/cli.js', 'clients:create', '--name', 'bench', '--scopes', 'verifications:write'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DATABASE_URL: db.url, NODE_ENV: 'production', OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32), AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32) },
    });
  }, 60_000);

  afterAll(async () => {
    await db?.drop();
  });

  it('seeds every table, chains the whole trail, and leaves indexes, triggers and the sequence as the service needs them', async () => {
    const before = await indexDefs();
    const cliEvents = await count('audit_events');
    expect(cliEvents).toBeGreaterThan(0);
    expect(await count('audit_chain')).toBe(0);
    const [{ id: clientId }] = await db.query<{ id: string }>(`SELECT id FROM api_clients WHERE name = 'bench'`);

    const r = await seed({ url: db.url, count: N, clientId });

    expect(r.chained).toBe(N * 4 + cliEvents);
    for (const t of ['verifications', 'phone_sends', 'outbox', 'outbox_attempts', 'idempotency_keys', 'risk_number_accounts']) expect(await count(t)).toBe(N);
    expect(await count('audit_events')).toBe(N * 4 + cliEvents);
    const [{ started }] = await db.query<{ started: string }>(`SELECT sum(started) AS started FROM risk_unit_counts WHERE kind = 'country' AND unit = 'JP'`);
    expect(Number(started)).toBe(N);
    // every seeded verification belongs to the client, is final, and has its events
    const [{ stray }] = await db.query<{ stray: string }>(
      `SELECT count(*) AS stray FROM verifications v WHERE v.client_id <> $1 OR v.status <> 'approved'
          OR (SELECT count(*) FROM audit_events e WHERE e.verification_id = v.id) <> 4`,
      [clientId],
    );
    expect(Number(stray)).toBe(0);

    // the whole trail verifies, from genesis to the head the seeder moved
    const rows = await db.query<AuditEventRow>(`SELECT ${CHAINED_COLUMNS} FROM ${EVENTS_WITH_LINKS} ORDER BY e.seq`);
    const verifier = new ChainVerifier();
    for (const row of rows) expect(verifier.push(fromRow(row))).toBe(true);
    const [head] = await db.query<{ seq: string; hash: Buffer }>(`SELECT seq, hash FROM audit_chain_head WHERE id = 1`);
    expect(verifier.finish({ seq: Number(head.seq), hash: head.hash })).toMatchObject({ ok: true, checked: N * 4 + cliEvents });

    // the dropped indexes are back, as they were
    expect(await indexDefs()).toEqual(before);
    // the append-only guard works on this (ordinary) connection
    await expect(db.query(`UPDATE audit_events SET type = 'x' WHERE seq = $1`, [head.seq])).rejects.toThrow(/append-only/);
    await expect(db.query(`DELETE FROM audit_chain WHERE seq = $1`, [head.seq])).rejects.toThrow();
    // the service's next event gets a number after the seeded ones
    const [next] = await db.query<{ seq: string }>(
      `INSERT INTO audit_events (id, type, occurred_at, actor_type, data) VALUES ('evt_after_seed', 'audit.read', now(), 'system', '{}') RETURNING seq`,
    );
    expect(Number(next.seq)).toBeGreaterThan(Number(head.seq));
  }, 120_000);
});
