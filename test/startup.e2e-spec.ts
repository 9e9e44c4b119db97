import { existsSync, mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, TestDatabase } from './support/database';
import { freePort } from './support/net';
import { CLI, expectEmbeddedStopped, MAIN, runBuilt, stopSpawned, waitUntilReady } from './support/process';
import { startTestApp } from './support/app';

/** Directories the tests made (an embedded PostgreSQL's data), removed at the end. */
const cleanup: string[] = [];
afterAll(async () => {
  await stopSpawned(); // a test that failed half-way may leave one running on its directory
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

describe('the built program', () => {
  describe('bad configuration exits non-zero naming the variable', () => {
    it.each([
      [{ PORT: 'abc' }, 'PORT'],
      [{ DATABASE_URL: 'not-a-url' }, 'DATABASE_URL'],
      [{ OTP_HMAC_KEYS: 'k1:abcd' }, 'OTP_HMAC_KEYS'],
      [{ NODE_ENV: 'production', DATABASE_URL: 'postgres://u:p@db:5432/otp' }, 'OTP_HMAC_KEYS is required'],
      [{ THROTTLE_LIMIT: '0' }, 'THROTTLE_LIMIT'],
      [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
    ])('%j', async (env, expected) => {
      const run = runBuilt(MAIN, env as Record<string, string>);
      const code = await run.exited;
      expect(code).not.toBe(0);
      expect(run.stderr()).toContain('Invalid configuration');
      expect(run.stderr()).toContain(expected);
    });

    it('does not print the value of a secret variable', async () => {
      const run = runBuilt(MAIN, { OTP_HMAC_KEYS: 'k1:deadbeefcafe' });
      expect(await run.exited).not.toBe(0);
      expect(run.stderr()).toContain('OTP_HMAC_KEYS');
      expect(run.stderr()).not.toContain('deadbeefcafe');
    });
  });

  it("launched without its node flags (not by npm start or the image), it says which at start-up", async () => {
    const env = { DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/otp`, DATABASE_STARTUP_RETRY_SECONDS: '0' };
    const bare = runBuilt(MAIN, env, [], []);
    expect(await bare.exited).not.toBe(0); // nothing listens there
    const warning = bare.stderr().split('\n').find((l) => l.includes('node was started without'));
    expect(warning && JSON.parse(warning)).toMatchObject({ level: 40, msg: expect.stringContaining('--no-memory-reducer --max-semi-space-size=8') });
    const launched = runBuilt(MAIN, env);
    expect(await launched.exited).not.toBe(0);
    expect(launched.stderr()).toContain('failed to start');
    expect(launched.stderr()).not.toContain('node was started without');
    // an operator's own semi-space size in NODE_OPTIONS is theirs to choose: not warned about
    const own = runBuilt(MAIN, { ...env, NODE_OPTIONS: '--max-semi-space-size=16' }, [], ['--no-memory-reducer']);
    expect(await own.exited).not.toBe(0);
    expect(own.stderr()).toContain('failed to start');
    expect(own.stderr()).not.toContain('node was started without');
  });

  it('with no DATABASE_URL: starts an embedded PostgreSQL, is ready within 30 s, shuts down gracefully, and a second start reuses the data and the dev key', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'otp-start-'));
    cleanup.push(parent);
    chmodSync(parent, 0o755);
    const dataDir = join(parent, '.data', 'postgres');
    const pgPort = await freePort();
    const port = await freePort();
    const env = { EMBEDDED_PG_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), PORT: String(port), HOST: '127.0.0.1' };
    const base = `http://127.0.0.1:${port}`;

    // first start
    const first = runBuilt(MAIN, env);
    const started = Date.now();
    await waitUntilReady(first, base);
    expect(Date.now() - started).toBeLessThan(30000);
    const key = /otp_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}/.exec(first.stdout())?.[0];
    expect(key).toBeDefined();
    expect(first.stderr()).not.toContain('node was started without');
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    const list = await fetch(`${base}/v1/admin/clients`, { headers: { authorization: `Bearer ${key}` } });
    expect(list.status).toBe(200);
    expect(((await list.json()) as any).items.map((c: { name: string }) => c.name)).toEqual(['dev']);

    // SIGTERM while a request is in flight: it is still answered, then the process exits 0 and PostgreSQL stops
    const answer = await new Promise<string>((resolveAnswer, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        const body = JSON.stringify({ name: 'inflight', scopes: ['admin'] });
        socket.write(`POST /v1/admin/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
        socket.write(body.slice(0, 10));
        setTimeout(() => {
          first.child.kill('SIGTERM');
          setTimeout(() => socket.write(body.slice(10)), 300);
        }, 100);
      });
      let data = '';
      socket.on('data', (d) => (data += String(d)));
      socket.on('close', () => resolveAnswer(data));
      socket.on('error', reject);
    });
    if (!/^HTTP\/1\.1 201/.test(answer)) throw new Error('in-flight answer: ' + JSON.stringify(answer) + '\n' + first.stderr().slice(-3000));
    expect(await first.exited).toBe(0);
    await expectEmbeddedStopped(pgPort);

    // second start: same data, no new dev key printed, the old key still works
    const second = runBuilt(MAIN, env);
    try {
      await waitUntilReady(second, base, '/health/ready (second start)');
      expect(second.stdout()).not.toMatch(/otp_[A-Za-z0-9]{12}_/);
      const again = await fetch(`${base}/v1/admin/clients`, { headers: { authorization: `Bearer ${key}` } });
      expect(again.status).toBe(200);
      expect(((await again.json()) as any).items.map((c: { name: string }) => c.name).sort()).toEqual(['dev', 'inflight']);
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  }, 120000);

  describe('the CLI', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => db?.drop());

    it('clients:create prints a key once; the key authenticates with exactly its scopes', async () => {
      const run = runBuilt(CLI, { DATABASE_URL: db.url }, ['clients:create', '--name', 'payments', '--scopes', 'verifications:write,verifications:check']);
      expect(await run.exited).toBe(0);
      const key = /otp_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}/.exec(run.stdout())?.[0] as string;
      expect(key).toBeDefined();
      const t = await startTestApp(db.url);
      try {
        // authenticated (not 401) but lacks admin (403)
        expect((await t.request('GET', '/v1/admin/clients', { key })).status).toBe(403);
      } finally {
        await t.close();
      }
      const listed = runBuilt(CLI, { DATABASE_URL: db.url }, ['clients:list']);
      expect(await listed.exited).toBe(0);
      expect(listed.stdout()).toContain('payments');
      expect(listed.stdout()).not.toContain(key.split('_')[2]);
    });

    it('rejects unknown scopes and commands with a message and a non-zero exit', async () => {
      const bad = runBuilt(CLI, { DATABASE_URL: db.url }, ['clients:create', '--name', 'x', '--scopes', 'root']);
      expect(await bad.exited).toBe(2);
      expect(bad.stderr()).toContain('unknown scope');
      const unknown = runBuilt(CLI, { DATABASE_URL: db.url }, ['frobnicate']);
      expect(await unknown.exited).toBe(2);
      expect(unknown.stderr()).toContain('unknown command');
    });
  });
});
