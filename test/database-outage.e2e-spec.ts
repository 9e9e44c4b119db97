import { Client } from 'pg';
import { createTestDatabase, TestDatabase } from './support/database';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { startStack, Stack } from './support/stack';
import { startTcpProxy, TcpProxy } from './support/tcp-proxy';
import { waitFor } from './support/wait';

/**
 * The service reaches PostgreSQL through a proxy the test controls: down (connections dropped and refused)
 * and frozen (connections open, nothing answers). Either way requests answer 503 service_unavailable with
 * Retry-After, quickly, and everything accepted before is still there afterwards.
 */
describe('database outage', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let s: Stack;
  let key: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    proxy = await startTcpProxy(Number(new URL(db.url).port));
    s = await startStack({ db, env: { DATABASE_URL: proxy.via(db.url), DATABASE_STATEMENT_TIMEOUT_MS: '1000', DATABASE_CONNECT_TIMEOUT_MS: '1000' } });
    ({ key } = await s.t.createClient());
  });
  afterAll(async () => {
    proxy?.up();
    await s?.close();
    await proxy?.close();
    await db?.drop();
  });

  const start = () => s.t.request('POST', '/v1/verifications', { key, body: { phoneNumber: freshPhone(), purpose: 'login' } });

  it('while PostgreSQL is down: 503 service_unavailable with Retry-After; liveness 200, readiness 503; then it recovers by itself', async () => {
    const before = await start();
    expect(before.status).toBe(201);

    proxy.down();
    try {
      const during = await start();
      expectProblem(during, 503, 'service_unavailable');
      expect(during.headers.get('retry-after')).toBe('5');
      expectProblem(await s.t.request('GET', `/v1/verifications/${before.body.id}`, { key }), 503, 'service_unavailable');
      expect((await s.t.request('GET', '/health/live')).status).toBe(200);
      expect((await s.t.request('GET', '/health/ready')).status).toBe(503);
      // logged as the database being unavailable, not as an unhandled error: the answer's own line is a warning
      expect(s.t.logs.join('')).toMatch(/Database unavailable on POST/);
      const answer = s.t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'request errored' && l.res?.statusCode === 503);
      expect(answer).toMatchObject({ level: 40, req: { method: 'POST', url: '/v1/verifications' } });
      expect(s.t.logs.filter((l) => l.includes('"level":50') && l.includes('"request errored"'))).toEqual([]);
    } finally {
      proxy.up();
    }

    await waitFor(async () => (await start()).status === 201, { timeoutMs: 15000, intervalMs: 200, what: 'a start succeeding again' });
    const after = await s.t.request('GET', `/v1/verifications/${before.body.id}`, { key });
    expect(after.status).toBe(200);
    expect(after.body.status).toBe('pending');
    expect((await s.t.request('GET', '/health/ready')).status).toBe(200);
  }, 60000);

  it('while PostgreSQL is frozen: requests are answered 503 before it thaws, not held for the whole outage', async () => {
    proxy.freeze();
    let thawed = false;
    const thaw = setTimeout(() => {
      thawed = true;
      proxy.up();
    }, 10000);
    try {
      const during = await start();
      expect(thawed).toBe(false);
      expectProblem(during, 503, 'service_unavailable');
      expect(during.headers.get('retry-after')).toBe('5');
    } finally {
      clearTimeout(thaw);
      proxy.up();
    }
    await waitFor(async () => (await start()).status === 201, { timeoutMs: 15000, intervalMs: 200, what: 'a start succeeding again' });
  }, 60000);
});

/**
 * Readiness reads the migrations table on every probe. A probe that fails there (a lock, a statement timeout, a lost
 * connection) must give its connection back: the pool is small, and probes come every few seconds while the database
 * is in trouble. Once the database is well again, readiness and requests must be too.
 */
describe('readiness while the migrations table cannot be read', () => {
  let s: Stack;
  let key: string;

  beforeAll(async () => {
    s = await startStack({ env: { DATABASE_POOL_SIZE: '3', DATABASE_STATEMENT_TIMEOUT_MS: '1000', DATABASE_CONNECT_TIMEOUT_MS: '1000' } });
    ({ key } = await s.t.createClient());
  });
  afterAll(async () => {
    await s?.close();
  });

  it('answers 503 and leaks no connection: once the lock goes, it is ready again and requests are served', async () => {
    const psql = new Client({ connectionString: s.db.url });
    await psql.connect();
    try {
      await psql.query('BEGIN; LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE');
      for (let i = 0; i < 4; i++) expect((await s.t.request('GET', '/health/ready')).status).toBe(503);
    } finally {
      await psql.query('ROLLBACK').catch(() => undefined);
      await psql.end();
    }
    expect((await s.t.request('GET', '/health/ready')).status).toBe(200);
    const started = await s.t.request('POST', '/v1/verifications', { key, body: { phoneNumber: freshPhone(), purpose: 'login' } });
    expect(started.status).toBe(201);
  }, 60000);
});
