import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AuditSequencer } from '../src/audit/audit-sequencer.service';
import { ChainVerifier, LINK_SLICE } from '../src/audit/audit-chain';
import { AuditExportLine, fromExportLine } from '../src/audit/audit-rows';
import { AuditEventInput, AuditService } from '../src/audit/audit.service';
import { chainAll, listAll, recordEvents, waitUntilChained } from './support/audit';
import type { TestDatabase } from './support/database';
import type { TestApp } from './support/app';
import { expectProblem } from './support/problem';
import { Stack, startStack } from './support/stack';
import { sleep, waitFor } from './support/wait';

// the module object itself (not an import's copy of it), so that a spy on it sees the chain's hashing
const nodeCrypto: typeof import('node:crypto') = require('node:crypto');

const PHONES = ['+819012345678', '+14155552671', '+447911123456'];

describe('audit trail: admin endpoints (real AppModule, real PostgreSQL)', () => {
  let stack: Stack;
  let db: TestDatabase;
  let t: TestApp;
  let reader: { key: string; clientId: string; keyId: string };
  let seeded: Array<AuditEventInput & { id: string }>;
  let clients: string[];

  beforeAll(async () => {
    // The background sequencer is off in this instance: the tests chain explicitly, to control what is pending.
    stack = await startStack({ env: { THROTTLE_LIMIT: '100000', AUDIT_SEQUENCER_ENABLED: 'false' } });
    ({ db, t } = stack);
    reader = await t.createClient(['audit:read']);
    clients = [(await t.createClient(['verifications:write'])).clientId, (await t.createClient(['verifications:write'])).clientId];
    const types = ['verification.created', 'verification.approved', 'message.sent', 'verification.locked'];
    const inputs: AuditEventInput[] = [];
    for (let i = 0; i < 60; i++) {
      inputs.push({
        type: types[i % 4],
        actor: { type: i % 5 === 0 ? 'provider' : 'client', id: i % 5 === 0 ? 'twilio' : clients[i % 2] },
        clientId: clients[i % 2],
        verificationId: `vrf_SEED${i % 7}`,
        phoneNumber: PHONES[i % 3],
        ip: '10.0.0.' + (i % 4),
        data: { n: i, channel: i % 2 ? 'sms' : 'voice' },
      });
    }
    const ids = await recordEvents(t, inputs.slice(0, 31));
    await sleep(15); // a clear time boundary for from/to
    ids.push(...(await recordEvents(t, inputs.slice(31))));
    seeded = inputs.map((e, i) => ({ ...e, id: ids[i] }));
    await chainAll(t);
  });
  afterAll(async () => stack?.close());

  /**
   * The events matching a predicate, in the listing's order: newest first by seq (events not chained yet are
   * the newest). ($1 is unused so that predicates number their parameters from $2.)
   */
  async function expected(where: string, params: unknown[] = []): Promise<string[]> {
    const rows = await db.query<{ id: string }>(
      `SELECT id FROM audit_events WHERE $1::int = 1 AND ${where} ORDER BY seq DESC`,
      [1, ...params],
    );
    return rows.map((r) => r.id);
  }

  it('lists with each filter, across pages, exactly the matching events, newest first, no gaps or repeats', async () => {
    const [{ t30 }] = await db.query<{ t30: Date }>(`SELECT occurred_at AS t30 FROM audit_events WHERE id = $1`, [seeded[31].id]);
    const from = t30.toISOString();
    const to = new Date(t30.getTime() + 5).toISOString();
    const cases: Array<[Record<string, string>, string, unknown[]]> = [
      [{ clientId: clients[0] }, `client_id = $2`, [clients[0]]],
      [{ verificationId: 'vrf_SEED3' }, `verification_id = $2`, ['vrf_SEED3']],
      [{ phoneNumber: '+14155552671' }, `phone_masked = '+1*******2671'`, []],
      [{ type: 'message.sent' }, `type = $2`, ['message.sent']],
      [{ from, type: 'verification.created' }, `occurred_at >= $2 AND type = 'verification.created'`, [t30]],
      [{ to, clientId: clients[1] }, `occurred_at < $2 AND client_id = '${clients[1]}'`, [new Date(to)]],
      [{ from, to }, `occurred_at >= $2 AND occurred_at < $3`, [t30, new Date(to)]],
      [{ clientId: clients[1], type: 'verification.approved', phoneNumber: '+819012345678' }, `client_id = $2 AND type = $3 AND phone_masked = '+81*******5678'`, [clients[1], 'verification.approved']],
    ];
    for (const [query, where, params] of cases) {
      const want = await expected(where, params);
      expect(want.length).toBeGreaterThan(0);
      const got = await listAll(t, reader.key, { ...query, limit: '7' });
      const ids = got.map((e) => e.id);
      expect({ query, ids }).toEqual({ query, ids: want });
      expect(new Set(ids).size).toBe(ids.length);
      const seqs = got.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    }
  });

  it('lists the whole trail with the default limit and with limit 500; items have the API shape, phone masked', async () => {
    const all = await expected('true');
    const first = await t.request('GET', '/v1/admin/audit-events', { key: reader.key });
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(Math.min(100, all.length));
    const item = first.body.items.find((e: any) => e.id === seeded[0].id);
    expect(Object.keys(item).sort()).toEqual(
      ['id', 'seq', 'chained', 'type', 'occurredAt', 'clientId', 'verificationId', 'phoneNumber', 'actor', 'ip', 'data', 'hash', 'prevHash'].sort(),
    );
    expect(item).toMatchObject({
      type: 'verification.created',
      clientId: clients[0],
      verificationId: 'vrf_SEED0',
      phoneNumber: '+81*******5678',
      actor: { type: 'provider', id: 'twilio' },
      ip: '10.0.0.0',
      data: { n: 0, channel: 'voice' },
      chained: true,
    });
    expect(item.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(first.text).not.toContain('9012345678');
    const big = await t.request('GET', '/v1/admin/audit-events?limit=500', { key: reader.key });
    // the first request's own audit.read came after `all` was read: it is the newest
    const known = new Set(all);
    expect(big.body.items.map((e: any) => e.id).filter((id: string) => known.has(id))).toEqual(all.slice(0, 500));
  });

  it('shows events not chained yet first, marked, and pages without gaps or repeats while the sequencer chains them', async () => {
    const { clientId } = await t.createClient(['verifications:write']);
    const ids = await recordEvents(
      t,
      Array.from({ length: 30 }, (_, i) => ({ type: 'verification.created', actor: { type: 'client' as const, id: clientId }, clientId, data: { i } })),
    );
    await t.app.get(AuditSequencer).chainPending(12); // the first 12 (and the client's own creation events) chained, 18+ pending
    const first = await t.request('GET', `/v1/admin/audit-events?clientId=${clientId}&limit=5`, { key: reader.key });
    expect(first.body.items.every((e: any) => Number.isInteger(e.seq) && e.chained === false && e.hash === null && e.prevHash === null)).toBe(true);
    // newest first among the pending ones too
    expect(first.body.items.map((e: any) => e.data.i)).toEqual([29, 28, 27, 26, 25]);

    let cursor = first.body.nextCursor;
    const seen: any[] = [...first.body.items];
    for (let page = 0; cursor; page++) {
      if (page === 1) await chainAll(t); // everything gets chained in the middle of the walk
      const res = await t.request('GET', `/v1/admin/audit-events?clientId=${clientId}&limit=5&cursor=${cursor}`, { key: reader.key });
      expect(res.status).toBe(200);
      seen.push(...res.body.items);
      cursor = res.body.nextCursor;
    }
    const all = (await db.query<{ id: string }>(`SELECT id FROM audit_events WHERE client_id = $1`, [clientId])).map((r) => r.id);
    expect(seen.map((e) => e.id).sort()).toEqual([...all].sort());
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    expect(all).toEqual(expect.arrayContaining(ids));
  });

  it('records every read as audit.read with the filters (phone number hashed and masked, never in clear)', async () => {
    const res = await t.request('GET', `/v1/admin/audit-events?type=message.sent&phoneNumber=%2B447911123456&limit=3`, {
      key: reader.key,
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    expect(res.status).toBe(200);
    const [read] = await db.query<any>(
      `SELECT * FROM audit_events WHERE type = 'audit.read' AND actor_id = $1 AND data->'filters'->>'type' = 'message.sent' ORDER BY occurred_at DESC LIMIT 1`,
      [reader.keyId],
    );
    expect(read).toMatchObject({ actor_type: 'admin', client_id: reader.clientId, phone_masked: '+44*******3456', ip: '127.0.0.1' });
    expect(read.data).toEqual({ filters: { type: 'message.sent', phoneNumber: 'given', limit: 3 }, page: 'first', returned: 3 });
    expect(JSON.stringify(read)).not.toContain('7911123456');
  });

  it('answers 400 problem+json for bad filters and changes nothing', async () => {
    const before = await db.query(`SELECT count(*) FROM audit_events`);
    const bad: Array<[string, string]> = [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=ten', 'limit'],
      ['from=yesterday', 'from'],
      ['to=2026-13-45T00:00:00Z', 'to'],
      // ISO 8601 forms JavaScript cannot read as an instant (they were a 500 from PostgreSQL)
      ['from=2026-W05', 'from'],
      ['from=20261124', 'from'],
      ['to=2026-11-24T10', 'to'],
      ['to=2026-11-24T1000', 'to'],
      ['phoneNumber=12345', 'phoneNumber'],
      ['verificationId=abc', 'verificationId'],
      ['clientId=%27%3B%20drop', 'clientId'],
      ['type=Not%20A%20Type', 'type'],
      ['cursor=not-a-cursor', 'cursor'],
      [`cursor=${Buffer.from(JSON.stringify({ h: 1, s: -4 })).toString('base64url')}`, 'cursor'],
      ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
      ['unknown=1', 'unknown'],
    ];
    for (const [qs, field] of bad) {
      const res = await t.request('GET', `/v1/admin/audit-events?${qs}`, { key: reader.key });
      expectProblem(res, 400, 'validation_failed');
      expect({ qs, fields: res.body.errors.map((e: any) => e.field) }).toEqual({ qs, fields: expect.arrayContaining([field]) });
    }
    expectProblem(await t.request('GET', `/v1/admin/audit-events/export?format=xml`, { key: reader.key }), 400, 'validation_failed');
    // an export refused for its filter records no audit.exported
    expectProblem(await t.request('GET', `/v1/admin/audit-events/export?from=2026-W05`, { key: reader.key }), 400, 'validation_failed');
    expect(await db.query(`SELECT count(*) FROM audit_events`)).toEqual(before);
  });

  it('401 without a key and 403 for a key without audit:read, on every audit route', async () => {
    const admin = await t.createClient(['admin', 'verifications:write']);
    for (const path of ['/v1/admin/audit-events', '/v1/admin/audit-events/integrity', '/v1/admin/audit-events/export']) {
      expectProblem(await t.request('GET', path), 401, 'unauthorized');
      const res = await t.request('GET', path, { key: admin.key });
      expectProblem(res, 403, 'forbidden');
      expect(res.body.detail).toContain('audit:read');
    }
  });

  it('exports NDJSON in chain order, streamed, that verifies offline; records audit.exported', async () => {
    await chainAll(t);
    const res = await fetch(`${t.url}/v1/admin/audit-events/export?format=ndjson`, { headers: { authorization: `Bearer ${reader.key}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(res.headers.get('content-disposition')).toMatch(/attachment; filename="audit-events-.*\.ndjson"/);
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as AuditExportLine);
    const chained = lines.filter((l) => l.chained);
    const links = await db.query<{ seq: string }>(`SELECT seq FROM audit_chain ORDER BY seq`);
    expect(links.length).toBeGreaterThan(50);
    expect(chained.map((l) => l.seq)).toEqual(links.map((l) => Number(l.seq)));
    const verifier = new ChainVerifier();
    for (const line of chained) expect(verifier.push(fromExportLine(line) as any)).toBe(true);
    // the export's own audit.exported event was recorded before the first byte, so it is in the export, unchained
    const own = lines.filter((l) => !l.chained);
    expect(own.map((l) => l.type)).toContain('audit.exported');

    const csv = await fetch(`${t.url}/v1/admin/audit-events/export?format=csv&clientId=${clients[0]}&type=verification.created`, {
      headers: { authorization: `Bearer ${reader.key}` },
    });
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = (await csv.text()).trimEnd().split('\r\n');
    expect(rows[0]).toBe('id,seq,type,occurredAt,clientId,verificationId,phoneNumber,phoneHash,actorType,actorId,ip,data,hash,prevHash');
    const want = await expected(`client_id = $2 AND type = 'verification.created'`, [clients[0]]);
    expect(rows.slice(1).map((r) => JSON.parse(r.split(',')[0]))).toEqual([...want].reverse());
    const exported = await db.query<any>(`SELECT data FROM audit_events WHERE type = 'audit.exported' AND data->>'format' = 'csv'`);
    expect(exported[0].data.filters).toEqual({ clientId: clients[0], type: 'verification.created', format: 'csv' });
  });

  it('integrity answers ok with the head, and is recorded as audit.verified', async () => {
    await chainAll(t);
    const res = await t.request('GET', '/v1/admin/audit-events/integrity', { key: reader.key });
    expect(res.status).toBe(200);
    const [head] = await db.query<any>(`SELECT seq, encode(hash, 'hex') AS hash, (SELECT count(*)::int FROM audit_chain) AS links FROM audit_chain ORDER BY seq DESC LIMIT 1`);
    expect(res.body).toMatchObject({ ok: true, checked: head.links, head: head.hash, headSeq: Number(head.seq), unchained: 0, checkpoint: null });
    expect(res.body.firstBrokenSeq).toBeUndefined();
    const verified = await db.query(`SELECT 1 FROM audit_events WHERE type = 'audit.verified' AND actor_id = $1`, [reader.keyId]);
    expect(verified).toHaveLength(1);
  });

  it('client and key changes write their audit events in the same transaction, without the keys', async () => {
    const admin = await t.createClient(['admin']);
    const created = await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: 'audited', scopes: ['risk:read'], webhookUrl: 'https://bank.internal/hooks/otp?token=abc' } });
    expect(created.status).toBe(201);
    const keyId = created.body.apiKey.id;
    expect((await t.request('DELETE', `/v1/admin/clients/${created.body.id}/keys/${keyId}`, { key: admin.key })).status).toBe(200);
    expect((await t.request('DELETE', `/v1/admin/clients/${created.body.id}/keys/${keyId}`, { key: admin.key })).status).toBe(200);
    const events = await db.query<any>(`SELECT type, actor_type, actor_id, data FROM audit_events WHERE client_id = $1 ORDER BY occurred_at, type`, [created.body.id]);
    expect(events.map((e) => e.type).sort()).toEqual(['api_key.created', 'api_key.revoked', 'client.created']);
    expect(events.every((e) => e.actor_type === 'admin' && e.actor_id === admin.keyId)).toBe(true);
    expect(events.find((e) => e.type === 'client.created').data).toEqual({ name: 'audited', scopes: ['risk:read'], webhookHost: 'bank.internal' });
    const dump = JSON.stringify(await db.query(`SELECT * FROM audit_events`));
    expect(dump).not.toContain(created.body.apiKey.key);
    expect(dump).not.toContain(created.body.webhookSecret);
    expect(dump).not.toContain('token=abc');

    // A failed creation (duplicate name) rolls its events back with it.
    const before = await db.query(`SELECT count(*) FROM audit_events WHERE type = 'client.created'`);
    expect((await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: 'audited', scopes: ['admin'] } })).status).toBe(409);
    expect(await db.query(`SELECT count(*) FROM audit_events WHERE type = 'client.created'`)).toEqual(before);
  });

  it('documents the audit routes in /docs-json', async () => {
    const res = await t.request('GET', '/docs-json');
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining(['/v1/admin/audit-events', '/v1/admin/audit-events/integrity', '/v1/admin/audit-events/export']),
    );
    const params = res.body.paths['/v1/admin/audit-events'].get.parameters.map((p: any) => p.name);
    expect(params).toEqual(expect.arrayContaining(['verificationId', 'phoneNumber', 'clientId', 'type', 'from', 'to', 'limit', 'cursor']));
  });
});

describe('audit trail: the background sequencer', () => {
  it('never skips an event whose transaction commits late: the chain waits at its number, and steps over numbers rolled back', async () => {
    const { db, t, close } = await startStack({ env: { AUDIT_SEQUENCER_ENABLED: 'false' } });
    try {
      const ds = t.app.get(DataSource);
      const audit = t.app.get(AuditService);
      const sequencer = t.app.get(AuditSequencer);
      await sequencer.drain();
      // A transaction records an event first (it gets the lowest number) and commits last.
      let commitLate!: () => void;
      const held = new Promise<void>((r) => (commitLate = r));
      let lateId = '';
      const late = ds.transaction(async (m) => {
        lateId = await audit.record(m, { type: 'verification.created', actor: { type: 'system' }, data: { late: true } });
        await held;
      });
      await waitFor(() => lateId, { intervalMs: 2, what: 'the late transaction to record its event' });
      // and one that takes the next number and rolls back
      await ds
        .transaction(async (m) => {
          await audit.record(m, { type: 'verification.created', actor: { type: 'system' }, data: { rolledBack: true } });
          throw new Error('roll back');
        })
        .catch(() => undefined);
      await recordEvents(t, Array.from({ length: 20 }, (_, i) => ({ type: 'message.sent', actor: { type: 'system' as const }, data: { i } })));
      const headBefore = (await db.query<{ seq: string }>(`SELECT seq FROM audit_chain_head`))[0].seq;

      // The 20 committed events are not chained past the late event's number while its transaction is open.
      expect(await sequencer.chainPending(5)).toBe(0);
      expect(await sequencer.chainPending(5)).toBe(0);
      expect((await db.query<{ seq: string }>(`SELECT seq FROM audit_chain_head`))[0].seq).toBe(headBefore);

      commitLate();
      await late;
      // The late one first; the rolled back number after it is a hole, found to be settled (no transaction that
      // could hold it is open any more), and the chain steps over it.
      expect(await sequencer.chainPending(5)).toBe(1);
      expect(await sequencer.chainPending(5)).toBe(5);
      await sequencer.drain();
      const rows = await db.query<{ id: string; seq: string; link: string | null }>(
        `SELECT e.id, e.seq, c.seq AS link FROM audit_events e LEFT JOIN audit_chain c ON c.seq = e.seq WHERE e.seq > $1 ORDER BY e.seq`,
        [headBefore],
      );
      expect(rows).toHaveLength(21);
      expect(rows[0].id).toBe(lateId);
      expect(rows.every((r) => r.link === r.seq)).toBe(true);
      expect(Number(rows[1].seq)).toBe(Number(rows[0].seq) + 2); // the rolled back number is a gap
      const { key } = await t.createClient(['audit:read']);
      expect((await t.request('GET', '/v1/admin/audit-events/integrity', { key })).body).toMatchObject({ ok: true });
    } finally {
      await close();
    }
  });

  it('never steps over the number of an open transaction newer than every finished one', async () => {
    const { db, t, close } = await startStack({ env: { AUDIT_SEQUENCER_ENABLED: 'false' } });
    const w = new Client({ connectionString: db.url });
    try {
      const ds = t.app.get(DataSource);
      const sequencer = t.app.get(AuditSequencer);
      await sequencer.drain();
      await w.connect();
      const sql = `INSERT INTO audit_events (id, type, occurred_at, actor_type) VALUES ($1, 'x.y', now(), 'system') RETURNING seq`;
      const insert = async (c: Client | DataSource, id: string): Promise<number> =>
        Number((c instanceof Client ? (await c.query(sql, [id])).rows : await c.query(sql, [id]))[0].seq);
      const head = async () => Number((await db.query<{ seq: string }>(`SELECT seq FROM audit_chain_head`))[0].seq);
      const headBefore = await head();
      // a number rolled back (a hole), then a committed event after it
      await ds
        .transaction(async (m) => {
          await m.query(sql, ['evt_ROLLED_BACK']);
          throw new Error('roll back');
        })
        .catch(() => undefined);
      await insert(ds, 'evt_AFTER_HOLE');
      // The tick stops at the hole and starts finding out whether it is settled. Right then (the sequencer's first
      // query for that, through the DataSource) W opens, takes a transaction id newer than every finished one (the
      // tick's own came before it) and the next number, and stays open.
      let wSeq = 0;
      const query = ds.query.bind(ds);
      jest.spyOn(ds, 'query').mockImplementation(async (sql, params, runner) => {
        if (!wSeq && sql.includes('FROM audit_event_seq')) {
          await w.query('BEGIN');
          wSeq = await insert(w, 'evt_OPEN_W');
        }
        return query(sql, params, runner);
      });
      await sequencer.chainPending();
      expect(wSeq).toBe(headBefore + 3);
      await insert(ds, 'evt_AFTER_W');
      // W's number may still be filled: nothing is chained past it, however many ticks run.
      for (let i = 0; i < 3; i++) await sequencer.chainPending();
      expect(await head()).toBeLessThan(wSeq);

      await w.query('COMMIT');
      await sequencer.drain();
      const rows = await db.query<{ id: string; seq: string; link: string | null }>(
        `SELECT e.id, e.seq, c.seq AS link FROM audit_events e LEFT JOIN audit_chain c ON c.seq = e.seq WHERE e.seq > $1 ORDER BY e.seq`,
        [headBefore],
      );
      expect(rows.map((r) => [r.id, r.link === null ? null : Number(r.link)])).toEqual([
        ['evt_AFTER_HOLE', headBefore + 2],
        ['evt_OPEN_W', headBefore + 3],
        ['evt_AFTER_W', headBefore + 4],
      ]);
      const { key } = await t.createClient(['audit:read']);
      expect((await t.request('GET', '/v1/admin/audit-events/integrity', { key })).body).toMatchObject({ ok: true });
    } finally {
      jest.restoreAllMocks();
      await w.end().catch(() => undefined);
      await close();
    }
  });

  it('hashes a large batch in slices, letting other work run between them, and the chain still verifies', async () => {
    const { db, t, close } = await startStack({ env: { AUDIT_SEQUENCER_ENABLED: 'false' } });
    const hashing = jest.spyOn(nodeCrypto, 'hash');
    try {
      const sequencer = t.app.get(AuditSequencer);
      await sequencer.drain();
      const n = LINK_SLICE * 2 + 100;
      await recordEvents(t, Array.from({ length: n }, (_, i) => ({ type: 'message.sent', actor: { type: 'system' as const }, data: { i } })));
      // What other work (a request) sees while the sequencer chains: the number of events hashed so far, at each
      // turn of the event loop. Hashed in one go, it only ever sees none or all of them.
      hashing.mockClear();
      const seen = new Set<number>();
      let chaining = true;
      const watch = () => {
        seen.add(hashing.mock.calls.length);
        if (chaining) setImmediate(watch);
      };
      setImmediate(watch);
      const chained = await sequencer.chainPending();
      chaining = false;
      expect(chained).toBe(n);
      expect(hashing.mock.calls.length).toBe(n);
      expect([...seen].filter((k) => k > 0 && k < n).sort((a, b) => a - b)).toEqual([LINK_SLICE, LINK_SLICE * 2]);
      expect(await db.query(`SELECT 1 FROM audit_events e LEFT JOIN audit_chain c USING (seq) WHERE c.seq IS NULL`)).toHaveLength(0);
      const { key } = await t.createClient(['audit:read']);
      expect((await t.request('GET', '/v1/admin/audit-events/integrity', { key })).body).toMatchObject({ ok: true });
    } finally {
      hashing.mockRestore();
      await close();
    }
  });

  it('chains a committed event soon at the default interval (200 ms; 2.5 s allowed for a busy machine), and stops with the app', async () => {
    const { db, t, close } = await startStack();
    try {
      await recordEvents(t, [{ type: 'verification.created', actor: { type: 'system' } }]);
      const took = await waitUntilChained(db, 5000);
      expect(took).toBeLessThan(2500);
    } finally {
      await close();
    }
  });
});
