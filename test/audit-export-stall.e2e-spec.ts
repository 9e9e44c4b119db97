// An audit export holds a pool connection (and a snapshot) while its reader reads. A reader that stops reading (an
// auditor's `curl … | less` left open, or someone meaning harm) must not hold it for good, and exports must not take
// the pool from the requests: an instance runs a quarter of its pool's exports at a time (503 past that), and the
// server ends an export whose transaction has waited for its reader AUDIT_EXPORT_IDLE_TIMEOUT_SECONDS.
import { connect, Socket } from 'node:net';
import { Client } from 'pg';
import { expectProblem } from './support/problem';
import { freshPhone } from './support/phones';
import { Stack, startStack } from './support/stack';
import { waitFor } from './support/wait';

describe('audit exports whose reader stops reading', () => {
  let s: Stack;
  let reader: { key: string };
  let caller: { key: string };

  beforeAll(async () => {
    // a pool of 4: one export at a time; a stalled one is cut off after 10 s
    s = await startStack({ env: { DATABASE_POOL_SIZE: '4', AUDIT_EXPORT_IDLE_TIMEOUT_SECONDS: '10', AUDIT_SEQUENCER_ENABLED: 'false', THROTTLE_LIMIT: '100000' } });
    reader = await s.t.createClient(['audit:read']);
    caller = await s.t.createClient(['verifications:write']);
    // a trail far larger than the sockets' buffers (not chained: the export lists those last)
    await s.db.query(
      `INSERT INTO audit_events (id, type, occurred_at, client_id, actor_type, data)
       SELECT 'evt_STALL' || lpad(k::text, 21, '0'), 'verification.created', now(), 'cli_STALL', 'client', jsonb_build_object('padding', repeat('x', 400))
         FROM generate_series(1, 60000) AS k`,
    );
  }, 60_000);
  afterAll(async () => s?.close());

  /** The backends of exports whose transaction is open (between two FETCHes, or running one). */
  const exportsOpen = async () =>
    (
      await s.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'otp-verify' AND xact_start IS NOT NULL AND query LIKE 'FETCH%'`,
      )
    )[0].n;
  /** The backends of exports that have waited for their reader a second or more. */
  const exportsStalled = () =>
    s.db.query<{ pid: number; backend_start: Date }>(
      `SELECT pid, backend_start FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'otp-verify' AND state = 'idle in transaction' AND query LIKE 'FETCH%' AND state_change < now() - interval '1 second'`,
    );

  it('HEAD answers the headers only: nothing read, recorded, or held', async () => {
    const before = (await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE type = 'audit.exported'`))[0].n;
    const heads = await Promise.all(
      Array.from({ length: 4 }, () => fetch(`${s.t.url}/v1/admin/audit-events/export?format=csv`, { method: 'HEAD', headers: { authorization: `Bearer ${reader.key}` } })),
    );
    expect(heads.map((h) => [h.status, h.headers.get('content-type')])).toEqual(Array(4).fill([200, 'text/csv; charset=utf-8']));
    expect((await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE type = 'audit.exported'`))[0].n).toBe(before);
    expect(await exportsOpen()).toBe(0);
    // and the one export slot is free
    const one = await s.t.request('GET', '/v1/admin/audit-events/export?format=ndjson&clientId=cli_none', { key: reader.key });
    expect(one.status).toBe(200);
  });

  it('a client gone before its export began does not keep the slot', async () => {
    const url = new URL(s.t.url);
    for (let i = 0; i < 3; i++) {
      const gone: Socket = connect(Number(url.port), url.hostname);
      await new Promise<void>((resolve) => gone.once('connect', resolve));
      gone.end(`GET /v1/admin/audit-events/export?format=ndjson&clientId=cli_none HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${reader.key}\r\n\r\n`);
      gone.destroy();
    }
    await waitFor(async () => (await s.t.request('GET', '/v1/admin/audit-events/export?format=ndjson&clientId=cli_none', { key: reader.key })).status === 200, {
      what: 'an export accepted after the clients that left',
    });
  });

  it('a second export is 503 while one runs; the stalled one is ended and its connection freed; requests go on meanwhile', async () => {
    const url = new URL(s.t.url);
    const stalled: Socket = connect(Number(url.port), url.hostname);
    stalled.pause(); // reads nothing: the answer backs up to the export's cursor
    await new Promise<void>((resolve) => stalled.once('connect', resolve));
    stalled.write(`GET /v1/admin/audit-events/export?format=ndjson HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${reader.key}\r\n\r\n`);
    try {
      let stalledRows: Array<{ pid: number; backend_start: Date }> = [];
      await waitFor(async () => (stalledRows = await exportsStalled()).length === 1, {
        timeoutMs: 30_000,
        what: 'the export waiting for its reader, its transaction open',
      });

      const second = await s.t.request('GET', '/v1/admin/audit-events/export?format=ndjson', { key: reader.key });
      expectProblem(second, 503, 'service_unavailable');
      expect(second.headers.get('retry-after')).toBe('5');
      const started = await s.t.request('POST', '/v1/verifications', { key: caller.key, body: { phoneNumber: freshPhone(), purpose: 'login' } });
      expect(started.status).toBe(201);

      // the answer is cut off: the export's transaction ends, its slot and connection come back
      await waitFor(async () => (await exportsOpen()) === 0, { timeoutMs: 25_000, what: 'the stalled export ended' });
      // by the service after AUDIT_EXPORT_IDLE_TIMEOUT_SECONDS, its connection kept for the pool, not by PostgreSQL's
      // backstop, which ends the connection too
      // (the pool may have lent the connection out again already)
      const [backend] = await s.db.query<{ backend_start: Date }>(`SELECT backend_start FROM pg_stat_activity WHERE pid = $1`, [stalledRows[0].pid]);
      expect(backend?.backend_start).toEqual(stalledRows[0].backend_start);
      let last = '';
      await waitFor(
        async () => {
          const res = await s.t.request('GET', '/v1/admin/audit-events/export?format=ndjson&clientId=cli_none', { key: reader.key });
          last = `${res.status} ${res.text.slice(0, 200)}`;
          return res.status === 200;
        },
        { timeoutMs: 10_000, what: () => `an export accepted again (last: ${last})` },
      );
    } finally {
      stalled.destroy();
    }
  }, 60_000);
});

describe('audit exports whose database is slow', () => {
  let s: Stack;
  let reader: { key: string };

  beforeAll(async () => {
    // cut off after 2 s of a stalled reader; statements may wait long (the test holds a lock)
    s = await startStack({ env: { AUDIT_EXPORT_IDLE_TIMEOUT_SECONDS: '2', DATABASE_STATEMENT_TIMEOUT_MS: '30000', AUDIT_SEQUENCER_ENABLED: 'false' } });
    reader = await s.t.createClient(['audit:read']);
  });
  afterAll(async () => s?.close());

  it('is not cut off while it waits for the database, only for its reader', async () => {
    const events = (await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events`))[0].n;
    const locker = new Client({ connectionString: s.db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN; LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE');
      const answer = fetch(`${s.t.url}/v1/admin/audit-events/export?format=ndjson`, { headers: { authorization: `Bearer ${reader.key}` } }).then(
        async (res) => ({ status: res.status, lines: (await res.text()).split('\n').filter(Boolean).length }),
        (err: unknown) => ({ status: 0, lines: 0, err: String(err) }),
      );
      // the export (its audit event first) waits on the table for more than twice the idle timeout
      await waitFor(
        async () => (await s.db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'otp-verify' AND wait_event_type = 'Lock' AND query LIKE '%audit_events%'`)).length > 0,
        { what: 'the export waiting on the audit table' },
      );
      await new Promise((resolve) => setTimeout(resolve, 5000));
      await locker.query('COMMIT');
      // its own audit.exported event is in the snapshot too
      expect(await answer).toEqual({ status: 200, lines: events + 1 });
    } finally {
      await locker.end();
    }
  }, 30_000);
});
