import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { ChainVerifier, chainHash, GENESIS_HASH } from '../src/audit/audit-chain';
import { walkChain, WALK_FETCH_ROWS } from '../src/audit/audit-chain-walker';
import { AuditReader, WalkOptions } from '../src/audit/audit-reader.service';
import { AuditRetention } from '../src/audit/audit-retention.service';
import { fromExportLine, fromRow, INSERT_LINKS_SQL, insertLinksParams } from '../src/audit/audit-rows';
import { chainAll, recordEvents, waitUntilChained } from './support/audit';
import type { TestDatabase } from './support/database';
import { startTestApp, TestApp } from './support/app';
import { Stack, startStack } from './support/stack';
import { waitFor } from './support/wait';

describe('audit trail: tamper evidence and the append-only table (real PostgreSQL)', () => {
  let stack: Stack;
  let db: TestDatabase;
  let t: TestApp;
  let reader: { key: string };
  let n: number;
  const archiveDir = mkdtempSync(join(tmpdir(), 'otp-audit-archive-'));

  beforeAll(async () => {
    stack = await startStack({ env: { AUDIT_SEQUENCER_ENABLED: 'false', AUDIT_ARCHIVE_DIR: archiveDir, THROTTLE_LIMIT: '100000' } });
    ({ db, t } = stack);
    reader = await t.createClient(['audit:read']);
    await recordEvents(
      t,
      Array.from({ length: 20 }, (_, i) => ({
        type: 'verification.created',
        actor: { type: 'client' as const, id: 'cli_X' },
        clientId: 'cli_X',
        verificationId: `vrf_T${i}`,
        phoneNumber: '+819012345678',
        ip: '10.1.1.1',
        data: { i },
      })),
    );
    await chainAll(t);
    n = Number((await db.query<{ n: string }>(`SELECT max(seq) AS n FROM audit_events`))[0].n);
  });
  afterAll(async () => {
    await stack?.close();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  const integrity = async () => {
    const res = await t.request('GET', '/v1/admin/audit-events/integrity', { key: reader.key });
    expect(res.status).toBe(200);
    return res.body;
  };
  /** As the database superuser, with triggers off: what no application role can do. */
  const tamper = async (sql: string, params: unknown[] = []) => {
    await db.query(`SET session_replication_role = replica`);
    try {
      return await db.query<any>(sql, params);
    } finally {
      await db.query(`SET session_replication_role = origin`);
    }
  };
  const rowAt = async (seq: number) => (await db.query<any>(`SELECT * FROM audit_events WHERE seq = $1`, [seq]))[0];
  const linkAt = async (seq: number) => (await db.query<any>(`SELECT * FROM audit_chain WHERE seq = $1`, [seq]))[0];
  const reinsert = (row: any) =>
    tamper(
      `INSERT INTO audit_events (id, seq, type, occurred_at, client_id, verification_id, phone_hash, phone_masked, actor_type, actor_id, ip, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [row.id, row.seq, row.type, row.occurred_at, row.client_id, row.verification_id, row.phone_hash, row.phone_masked, row.actor_type, row.actor_id, row.ip, row.data],
    );
  const relink = (link: any) => tamper(`INSERT INTO audit_chain (seq, prev_hash, hash) VALUES ($1, $2, $3)`, [link.seq, link.prev_hash, link.hash]);
  /** Moves every event and link from `seq` on by `by` places (through negative numbers: seq is unique). */
  const shift = async (from: number, by: number) => {
    for (const table of ['audit_events', 'audit_chain']) {
      await tamper(`UPDATE ${table} SET seq = -(seq + $2) WHERE seq >= $1`, [from, by]);
      await tamper(`UPDATE ${table} SET seq = -seq WHERE seq < 0`);
    }
    // numbers handed out from now on stay above every event
    await db.query(`SELECT setval('audit_event_seq', greatest((SELECT last_value FROM audit_event_seq), (SELECT max(seq) FROM audit_events)))`);
  };

  it('an untouched chain verifies', async () => {
    expect(n).toBeGreaterThanOrEqual(20);
    expect(await integrity()).toMatchObject({ ok: true, checked: n, headSeq: n });
  });

  it.each([
    ['data', 'audit_events', `data = '{"i": 999}'::jsonb`],
    ['type', 'audit_events', `type = 'verification.approved'`],
    ['occurred_at', 'audit_events', `occurred_at = occurred_at + interval '1 millisecond'`],
    ['client_id', 'audit_events', `client_id = 'cli_Y'`],
    ['ip', 'audit_events', `ip = '10.1.1.2'`],
    ['prev_hash', 'audit_chain', `prev_hash = decode(repeat('ab', 32), 'hex')`],
    ['hash', 'audit_chain', `hash = decode(repeat('cd', 32), 'hex')`],
  ])('changing %s of one event: ok false at that seq; restored: ok true', async (_col, table, set) => {
    const target = 7;
    const [event, link] = [await rowAt(target), await linkAt(target)];
    await tamper(`UPDATE ${table} SET ${set} WHERE seq = $1`, [target]);
    expect(await integrity()).toMatchObject({ ok: false, firstBrokenSeq: target });
    await tamper(`DELETE FROM audit_events WHERE seq = $1`, [target]);
    await tamper(`DELETE FROM audit_chain WHERE seq = $1`, [target]);
    await reinsert(event);
    await relink(link);
    expect(await integrity()).toMatchObject({ ok: true, checked: n });
  });

  it('deleting one event in the middle, or the last one: ok false at the missing seq', async () => {
    const [middle, middleLink] = [await rowAt(9), await linkAt(9)];
    await tamper(`DELETE FROM audit_events WHERE seq = 9`);
    expect(await integrity()).toMatchObject({ ok: false, firstBrokenSeq: 9, reason: 'missing_event' });
    // with its link too: the next event's link no longer matches
    await tamper(`DELETE FROM audit_chain WHERE seq = 9`);
    expect(await integrity()).toMatchObject({ ok: false, firstBrokenSeq: 10, reason: 'prev_hash_mismatch' });
    await reinsert(middle);
    await relink(middleLink);

    const [last, lastLink] = [await rowAt(n), await linkAt(n)];
    await tamper(`DELETE FROM audit_events WHERE seq = $1`, [n]);
    expect(await integrity()).toMatchObject({ ok: false, firstBrokenSeq: n, reason: 'missing_event' });
    // with its link too: the chain ends before the head the sequencer recorded
    await tamper(`DELETE FROM audit_chain WHERE seq = $1`, [n]);
    expect(await integrity()).toMatchObject({ ok: false, firstBrokenSeq: n, reason: 'missing_event' });
    await reinsert(last);
    await relink(lastLink);
    expect(await integrity()).toMatchObject({ ok: true, checked: n });
  });

  it('inserting a forged event in the middle: ok false at the forged event, or right after it when its own link is right', async () => {
    const at = 12;
    const model = await rowAt(at);
    const forged = { ...model, id: 'evt_FORGED000000000000000000', data: { i: 'forged' } };

    // A crude forgery: events renumbered to make room, the forged one with no link, then with a made-up one.
    await shift(at, 1);
    await reinsert({ ...forged, seq: at });
    expect(await integrity()).toMatchObject({ ok: false, firstBrokenSeq: at, reason: 'unexpected_event' });
    await relink({ seq: at, prev_hash: randomBytes(32), hash: randomBytes(32) });
    expect(await integrity()).toMatchObject({ ok: false, firstBrokenSeq: at });
    await tamper(`DELETE FROM audit_chain WHERE seq = $1`, [at]);

    // The best forgery without rewriting everything after it: a correct link from the event before.
    const before = await linkAt(at - 1);
    const linkedHash = chainHash(before.hash, fromRow({ ...forged, seq: String(at) }));
    await relink({ seq: at, prev_hash: before.hash, hash: linkedHash });
    expect(await integrity()).toMatchObject({ ok: false, firstBrokenSeq: at + 1 });

    await tamper(`DELETE FROM audit_events WHERE id = $1`, [forged.id]);
    await tamper(`DELETE FROM audit_chain WHERE seq = $1`, [at]);
    await shift(at + 1, -1);
    expect(await integrity()).toMatchObject({ ok: true, checked: n });
  });

  describe('the walk in batches and in seq ranges side by side (worker threads)', () => {
    const verify = (options: WalkOptions) => t.app.get(AuditReader).verifyChain(options);
    /** Small batches and several ranges must answer exactly what one walk in one batch answers. */
    const layouts: WalkOptions[] = [
      { walkers: 2, fetchRows: 3 },
      { walkers: 3, fetchRows: 4 },
      { walkers: 4, fetchRows: 1 },
    ];
    const sameEverywhere = async () => {
      const one = await verify({ walkers: 1, fetchRows: WALK_FETCH_ROWS });
      for (const options of layouts) expect({ options, result: await verify(options) }).toEqual({ options, result: one });
      return one;
    };
    const restore = async (seq: number, event: any, link: any) => {
      await tamper(`DELETE FROM audit_events WHERE seq = $1`, [seq]);
      await tamper(`DELETE FROM audit_chain WHERE seq = $1`, [seq]);
      await reinsert(event);
      await relink(link);
    };

    it('an untouched chain: ok, every event checked once', async () => {
      expect(await sameEverywhere()).toMatchObject({ ok: true, checked: n, headSeq: n });
      expect(await verify({ walkers: 3, fetchRows: 2 })).toMatchObject({ ok: true, checked: n, headSeq: n });
    });

    // With 3 ranges over n events, the first ends at floor(n / 3): a break there, at the last event of a range,
    // is found by that range, and the range after it (which starts from the stored link) must not hide it.
    it.each([
      ['an event in a middle batch of the first range', () => 5, 'audit_events', `data = '{"i": 999}'::jsonb`, 'hash_mismatch'],
      ['the event that ends the first range', () => Math.floor(n / 3), 'audit_events', `type = 'verification.approved'`, 'hash_mismatch'],
      ['the stored hash of the link that ends the first range', () => Math.floor(n / 3), 'audit_chain', `hash = decode(repeat('cd', 32), 'hex')`, 'hash_mismatch'],
      ['an event in the last range', () => n - 2, 'audit_events', `ip = '10.9.9.9'`, 'hash_mismatch'],
      ['the prev_hash of the link that starts the second range', () => Math.floor(n / 3) + 1, 'audit_chain', `prev_hash = decode(repeat('ab', 32), 'hex')`, 'prev_hash_mismatch'],
    ])('changing %s: the same first broken seq and reason as one walk', async (_what, at, table, set, reason) => {
      const target = at();
      const [event, link] = [await rowAt(target), await linkAt(target)];
      await tamper(`UPDATE ${table} SET ${set} WHERE seq = $1`, [target]);
      expect(await sameEverywhere()).toMatchObject({ ok: false, firstBrokenSeq: target, reason, checked: target });
      await restore(target, event, link);
      expect(await sameEverywhere()).toMatchObject({ ok: true, checked: n });
    });

    it('a missing event in the second range, and a missing event and link at a range boundary', async () => {
      const at = Math.floor(n / 2) + 1;
      const [event, link] = [await rowAt(at), await linkAt(at)];
      await tamper(`DELETE FROM audit_events WHERE seq = $1`, [at]);
      expect(await sameEverywhere()).toMatchObject({ ok: false, firstBrokenSeq: at, reason: 'missing_event' });
      await tamper(`DELETE FROM audit_chain WHERE seq = $1`, [at]);
      expect(await sameEverywhere()).toMatchObject({ ok: false, firstBrokenSeq: at + 1, reason: 'prev_hash_mismatch' });
      await reinsert(event);
      await relink(link);
      expect(await sameEverywhere()).toMatchObject({ ok: true, checked: n });
    });

    it('a break in two ranges: the first one is the answer', async () => {
      const [a, b] = [3, n - 1];
      const saved = [
        [a, await rowAt(a), await linkAt(a)],
        [b, await rowAt(b), await linkAt(b)],
      ] as const;
      await tamper(`UPDATE audit_events SET client_id = 'cli_Z' WHERE seq = ANY($1)`, [[a, b]]);
      expect(await sameEverywhere()).toMatchObject({ ok: false, firstBrokenSeq: a, reason: 'hash_mismatch', checked: a });
      for (const [seq, event, link] of saved) await restore(seq, event, link);
      expect(await sameEverywhere()).toMatchObject({ ok: true, checked: n });
    });

    it('a failure inside a walker is an error, never ok (an event the chain cannot encode)', async () => {
      const target = n - 3;
      const [event, link] = [await rowAt(target), await linkAt(target)];
      // jsonb keeps 1e400; JavaScript reads it as Infinity, which canonical JSON refuses
      await tamper(`UPDATE audit_events SET data = '{"i": 1e400}'::jsonb WHERE seq = $1`, [target]);
      for (const options of [{ walkers: 1 }, ...layouts]) await expect(verify(options)).rejects.toThrow(/Infinity/);
      const res = await t.request('GET', '/v1/admin/audit-events/integrity', { key: reader.key });
      expect(res.status).toBe(500);
      await restore(target, event, link);
      expect(await integrity()).toMatchObject({ ok: true, checked: n });
    });

    it("a walker's connection cut mid-walk: the check answers 503 (the database), never ok, and the next one verifies", async () => {
      // The walker's cursor waits for this lock on audit_chain (which the check's own transaction does not read
      // with one walker), and its connection is cut there, as a failover or an administrator would cut it.
      const locker = new Client({ connectionString: db.url });
      await locker.connect();
      try {
        await locker.query(`BEGIN`);
        await locker.query(`LOCK TABLE audit_chain IN ACCESS EXCLUSIVE MODE`);
        const answer = t.request('GET', '/v1/admin/audit-events/integrity', { key: reader.key });
        const walker = await waitFor(
          async () => (await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DECLARE audit_walk%'`))[0]?.pid,
          { what: "the walker's cursor waiting for the lock" },
        );
        await db.query(`SELECT pg_terminate_backend($1)`, [walker]);
        await locker.query(`ROLLBACK`);
        const res = await answer;
        expect({ status: res.status, type: res.headers.get('content-type'), code: (res.body as { code?: string }).code }).toEqual({
          status: 503,
          type: expect.stringMatching(/^application\/problem\+json\b/),
          code: 'service_unavailable',
        });
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      } finally {
        await locker.end();
      }
      expect(await integrity()).toMatchObject({ ok: true, checked: n });
    });

    it('a walker that cannot connect, or runs out of its heap, rejects', async () => {
      const input = { snapshot: 'none', start: { seq: 0, hash: '00'.repeat(32) }, fetchRows: 10 };
      // with its code, which tells the problem filter the database is unreachable (503, not 500)
      await expect(walkChain({ ...input, connection: { host: '127.0.0.1', port: 1, connectionTimeoutMillis: 2000 } })).rejects.toMatchObject({
        code: 'ECONNREFUSED',
        message: expect.stringMatching(/ECONNREFUSED/),
      });
      // A heap too small for the walker's modules (4 MB), yet not so small that V8 cannot start the thread at all: on
      // Node 24 a heap under about 3 MB aborts the whole process ("GC during deserialization"), not only the worker.
      await expect(walkChain({ ...input, connection: { connectionString: db.url } }, { maxOldGenerationSizeMb: 4, maxYoungGenerationSizeMb: 1 })).rejects.toMatchObject({
        code: 'ERR_WORKER_OUT_OF_MEMORY',
      });
    });
  });

  it('the database itself refuses UPDATE, DELETE and TRUNCATE, even for the superuser with triggers on', async () => {
    await expect(db.query(`UPDATE audit_events SET type = 'x.y' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(db.query(`DELETE FROM audit_events WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(db.query(`TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
  });

  it('checks that new links come after the head once per INSERT statement, not once per link', async () => {
    const c = new Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query(`BEGIN`);
      await c.query(`SET LOCAL track_functions = 'pl'`);
      const [{ seq: head }] = (await c.query(`SELECT seq FROM audit_chain_head WHERE id = 1`)).rows;
      // a batch of 1,000 links after the head, inserted as the sequencer does (rolled back below)
      const links = Array.from({ length: 1000 }, (_, i) => ({ seq: Number(head) + 1 + i, prevHash: randomBytes(32), hash: randomBytes(32) }));
      await c.query(INSERT_LINKS_SQL, insertLinksParams(links));
      const stored = await c.query(`SELECT seq, prev_hash, hash FROM audit_chain WHERE seq > $1 ORDER BY seq`, [head]);
      expect(stored.rows.map((r) => [Number(r.seq), r.prev_hash, r.hash])).toEqual(links.map((l) => [l.seq, l.prevHash, l.hash]));
      const calls = await c.query(`SELECT funcname, calls::int FROM pg_stat_xact_user_functions WHERE funcname LIKE 'audit_chain%' ORDER BY funcname`);
      expect(calls.rows).toEqual([{ funcname: 'audit_chain_links_after_head', calls: 1 }]);
    } finally {
      await c.query(`ROLLBACK`);
      await c.end();
    }
    // One link behind the head in a statement of otherwise good ones refuses the whole statement, naming that link.
    // (seq 0 is never handed out and has no link, so only the check can refuse it; a taken seq also hits the key.)
    const zero = `decode(repeat('00', 32), 'hex')`;
    await expect(db.query(`INSERT INTO audit_chain (seq, prev_hash, hash) VALUES (${n + 1000}, ${zero}, ${zero}), (0, ${zero}, ${zero})`)).rejects.toThrow(
      /audit_chain: seq 0 is behind the chain head/,
    );
    expect(await db.query(`SELECT 1 FROM audit_chain WHERE seq IN (0, $1)`, [n + 1000])).toHaveLength(0);
    // A seq behind the head that has its link meets the primary key first (before, the row check came first): still no
    // way in, and ON CONFLICT DO NOTHING leaves the link as it was.
    const before = await linkAt(1);
    await expect(db.query(`INSERT INTO audit_chain (seq, prev_hash, hash) VALUES (1, ${zero}, ${zero})`)).rejects.toThrow(/duplicate key/);
    await db.query(`INSERT INTO audit_chain (seq, prev_hash, hash) VALUES (1, ${zero}, ${zero}) ON CONFLICT DO NOTHING`);
    expect(await linkAt(1)).toEqual(before);
    // and a hash of the wrong length never reaches the statement, where it would shift the links after it
    expect(() => insertLinksParams([{ seq: n + 1, prevHash: randomBytes(32), hash: randomBytes(33) }])).toThrow(/32 bytes/);
  });

  it('every function behind a trigger on the audit tables runs with its search_path pinned, temporary schema last', async () => {
    // A CREATE OR REPLACE of a guard without SET search_path in its definition drops the pin: this catches it.
    const guards = await db.query<{ fn: string; config: string[] | null }>(
      `SELECT DISTINCT p.proname AS fn, p.proconfig AS config FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE c.relname LIKE 'audit%' AND NOT t.tgisinternal ORDER BY 1`,
    );
    expect(guards.map((g) => g.fn)).toEqual([
      'audit_chain_append_only',
      'audit_chain_head_forward_only',
      'audit_chain_links_after_head',
      'audit_checkpoints_append_only',
      'audit_events_append_only',
    ]);
    for (const g of guards) expect([g.fn, g.config]).toEqual([g.fn, ['search_path=pg_catalog, public, pg_temp']]);
  });

  describe('as the application database user (not a superuser)', () => {
    const role = `otp_app_${randomBytes(4).toString('hex')}`;
    let app: Client;

    beforeAll(async () => {
      const dbName = new URL(db.url).pathname.slice(1);
      await db.query(`CREATE ROLE ${role} LOGIN PASSWORD 'app-password' NOSUPERUSER NOCREATEDB NOCREATEROLE`);
      await db.query(`GRANT CONNECT ON DATABASE ${dbName} TO ${role}`);
      await db.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
      await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`);
      await db.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
      // Even with the TRUNCATE privilege (which an app should not have), the trigger refuses.
      await db.query(`GRANT TRUNCATE ON audit_events, audit_chain, audit_chain_head, audit_checkpoints TO ${role}`);
    });
    afterAll(async () => {
      await app?.end().catch(() => undefined);
      await db.query(`DROP OWNED BY ${role}`);
      await db.query(`DROP ROLE ${role}`);
    });

    it('runs the service (events written and chained) but cannot rewrite history', async () => {
      const url = new URL(db.url);
      url.username = role;
      url.password = 'app-password';
      // The service itself runs as this role: it writes events and its sequencer chains them.
      const asApp = await startTestApp(url.toString(), { MIGRATIONS_RUN: 'false', AUDIT_SEQUENCER_INTERVAL_MS: '20' });
      try {
        await recordEvents(asApp, [{ type: 'verification.created', actor: { type: 'system' }, data: { by: 'app role' } }]);
        await waitUntilChained(db);
      } finally {
        await asApp.close();
      }
      const count = await db.query(`SELECT count(*) FROM audit_events`);

      app = new Client({ connectionString: url.toString() });
      await app.connect();
      const refused = async (sql: string, re: RegExp = /append-only|already chained|behind the chain head|only moves forward/) => {
        await expect(app.query(sql)).rejects.toThrow(re);
        await app.query('ROLLBACK').catch(() => undefined);
      };
      await refused(`UPDATE audit_events SET type = 'verification.approved' WHERE seq = 2`);
      await refused(`UPDATE audit_events SET data = '{}' WHERE seq IS NOT NULL`);
      await refused(`UPDATE audit_events SET seq = seq + 1000 WHERE seq = 3`);
      await refused(`UPDATE audit_chain SET hash = prev_hash WHERE seq = 3`);
      await refused(`DELETE FROM audit_events WHERE seq = 4`);
      await refused(`DELETE FROM audit_chain WHERE seq = 4`);
      await refused(`DELETE FROM audit_events`);
      await refused(`TRUNCATE audit_events`);
      await refused(`TRUNCATE audit_chain`);
      await refused(`BEGIN; SET LOCAL otp.audit_retention = 'archive'; DELETE FROM audit_events WHERE seq = 5;`);
      // nothing slipped in behind the sequencer: neither an event with a chained number nor a link
      await refused(`INSERT INTO audit_events (id, seq, type, occurred_at, actor_type) VALUES ('evt_X', 2, 'x.y', now(), 'system')`);
      await refused(`INSERT INTO audit_chain (seq, prev_hash, hash) VALUES (0, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'))`);
      // An event not chained yet cannot be changed or removed either.
      await app.query(`INSERT INTO audit_events (id, type, occurred_at, actor_type) VALUES ('evt_PENDING', 'x.y', now(), 'system')`);
      await refused(`UPDATE audit_events SET type = 'x.z' WHERE id = 'evt_PENDING'`);
      await refused(`DELETE FROM audit_events WHERE id = 'evt_PENDING'`);
      await refused(`UPDATE audit_chain_head SET seq = 0`);
      await refused(`TRUNCATE audit_chain_head`);
      // Temporary tables of the same names (this role may create them, as any role may by default) come first in
      // the role's search_path, but not in the guards' own: a fake head or checkpoint does not open the trail.
      await app.query(`CREATE TEMP TABLE audit_chain_head (id smallint, seq bigint, hash bytea)`);
      await app.query(`INSERT INTO audit_chain_head VALUES (1, -1, NULL)`);
      await app.query(`CREATE TEMP TABLE audit_checkpoints (seq bigint)`);
      await app.query(`INSERT INTO audit_checkpoints VALUES (9223372036854775807)`);
      await refused(`INSERT INTO public.audit_chain (seq, prev_hash, hash) VALUES (0, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'))`);
      await refused(`INSERT INTO public.audit_events (id, seq, type, occurred_at, actor_type) VALUES ('evt_Y', 0, 'x.y', now(), 'system')`);
      await refused(`BEGIN; SET LOCAL otp.audit_retention = 'archive'; DELETE FROM public.audit_chain WHERE seq = 4;`);
      await refused(`BEGIN; SET LOCAL otp.audit_retention = 'archive'; DELETE FROM public.audit_events WHERE seq = 4;`);
      await app.query(`DROP TABLE pg_temp.audit_chain_head, pg_temp.audit_checkpoints`);
      // Where this role may create in the trail's schema (PUBLIC's default before PostgreSQL 15), a nextval(text) of its
      // own would have been preferred to pg_catalog's for nextval('audit_event_seq'), and run as whoever inserts an
      // event: the numbering function names everything qualified, so events still get their number from the sequence.
      await db.query(`GRANT CREATE ON SCHEMA public TO ${role}`);
      await app.query(`CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'`);
      const [{ seq: headSeq }] = (await app.query(`SELECT seq FROM audit_chain_head`)).rows;
      const { rows: numbered } = await app.query(
        `INSERT INTO audit_events (id, type, occurred_at, actor_type) VALUES ('evt_NUMBERED', 'x.y', now(), 'system') RETURNING seq`,
      );
      expect(Number(numbered[0].seq)).toBeGreaterThan(Number(headSeq));
      await app.query(`DROP FUNCTION public.nextval(text)`);
      await db.query(`REVOKE CREATE ON SCHEMA public FROM ${role}`);
      // and the guard cannot be switched off by this user
      await refused(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`, /owner|permission/);
      await refused(`SET session_replication_role = replica`, /permission/);

      const after = await db.query(`SELECT count(*)::int AS c FROM audit_events WHERE id NOT IN ('evt_PENDING', 'evt_NUMBERED')`);
      expect(after[0].c).toBe(Number((count[0] as any).count));
      await chainAll(t);
      expect(await integrity()).toMatchObject({ ok: true });
    });
  });

  it('retention archives a prefix up to a sealed checkpoint; the rest verifies from its hash', async () => {
    await chainAll(t);
    const before = await integrity();
    expect(before.ok).toBe(true);
    await chainAll(t);
    const head = Number((await db.query<{ n: string }>(`SELECT max(seq) AS n FROM audit_events`))[0].n);

    const run = await t.app.get(AuditRetention).runOnce(0, 10); // everything is old enough; at most 10 per run
    expect(run).toMatchObject({ archived: 10, checkpoint: { seq: 10 } });
    expect(await db.query(`SELECT 1 FROM audit_events WHERE seq <= 10`)).toHaveLength(0);
    const [cp] = await db.query<any>(`SELECT * FROM audit_checkpoints`);
    expect(cp).toMatchObject({ seq: '10', archived_events: '10' });

    // The archive holds the ten events, verifies offline from the start, and its checksum is the one sealed.
    const text = readFileSync(run.archive!, 'utf8');
    expect(createHash('sha256').update(text).digest('hex')).toBe(cp.archive_sha256);
    const lines = text.trim().split('\n').map((l) => JSON.parse(l));
    const v = new ChainVerifier({ seq: 0, hash: GENESIS_HASH });
    for (const l of lines) expect(v.push(fromExportLine(l) as any)).toBe(true);
    expect(v.finish({ seq: 10, hash: cp.hash })).toMatchObject({ ok: true, checked: 10 });

    const after = await integrity();
    const [{ kept }] = await db.query<any>(`SELECT count(*)::int AS kept FROM audit_chain WHERE seq > 10 AND seq <= $1`, [head]);
    expect(kept).toBeGreaterThan(20);
    expect(after).toMatchObject({ ok: true, checkpoint: { seq: 10, hash: cp.hash.toString('hex') }, headSeq: head, checked: kept });
    expect(await db.query(`SELECT 1 FROM audit_events WHERE type = 'audit.archived'`)).toHaveLength(1);

    // Retention's permission stops at the checkpoint, and tampering after it still shows.
    await expect(db.query(`BEGIN; SET LOCAL otp.audit_retention = 'archive'; DELETE FROM audit_events WHERE seq = 11;`)).rejects.toThrow(/append-only/);
    await db.query('ROLLBACK');
    await tamper(`UPDATE audit_events SET ip = '1.2.3.4' WHERE seq = 12`);
    expect(await integrity()).toMatchObject({ ok: false, firstBrokenSeq: 12 });
  });
});
