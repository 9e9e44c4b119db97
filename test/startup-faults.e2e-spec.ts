import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { waitForDatabase } from '../src/database/startup';
import { createTestDatabase, TestDatabase } from './support/database';
import { freePort } from './support/net';
import { MAIN, runBuilt, Spawned, stopSpawned, waitUntilReady } from './support/process';
import { startTcpProxy } from './support/tcp-proxy';
import { waitFor } from './support/wait';

/** Every line the program wrote (stdout and stderr) is a JSON object; returns them parsed. */
function jsonLines(run: Spawned): Array<{ level: number; msg: string }> {
  const lines = (run.stdout() + run.stderr()).split('\n').filter((l) => l.trim() !== '');
  return lines.map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`not a JSON log line: ${line}`);
    }
  });
}

/** The embedded PostgreSQL directories the tests made, removed at the end. */
const made: string[] = [];
afterAll(async () => {
  await stopSpawned(); // a test that failed half-way may leave one running on its directory
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function embeddedDir(): string {
  const parent = mkdtempSync(join(tmpdir(), 'otp-faults-'));
  made.push(parent);
  chmodSync(parent, 0o755);
  return join(parent, 'postgres');
}

describe('start-up faults', () => {
  it('an embedded PostgreSQL that cannot start: the cause is logged as JSON and the program exits non-zero', async () => {
    // Something else already listens on the port the embedded PostgreSQL is told to use.
    const port = await freePort();
    const squatters: Server[] = [];
    for (const host of ['127.0.0.1', '::1']) {
      const squatter = createServer();
      await new Promise<void>((resolve) => squatter.once('error', () => resolve()).listen(port, host, () => resolve()));
      squatters.push(squatter);
    }
    try {
      const run = runBuilt(MAIN, { EMBEDDED_PG_DIR: embeddedDir(), EMBEDDED_PG_PORT: String(port), PORT: String(await freePort()) });
      expect(await run.exited).not.toBe(0);
      const failure = jsonLines(run).find((l) => l.level === 50 && l.msg.startsWith('failed to start'));
      expect(failure?.msg).toMatch(/embedded PostgreSQL could not start \(port \d+/);
      expect(failure?.msg).toMatch(/Address already in use|could not create any TCP\/IP sockets/);
      expect(failure?.msg).not.toContain('undefined');
    } finally {
      for (const s of squatters) s.close();
    }
  }, 60000);

  it('a second instance that reused the first one\'s embedded PostgreSQL exits non-zero once the first stops it', async () => {
    const dir = embeddedDir();
    const pgPort = String(await freePort());
    const firstPort = await freePort();
    const secondPort = await freePort();
    const first = runBuilt(MAIN, { EMBEDDED_PG_DIR: dir, EMBEDDED_PG_PORT: pgPort, PORT: String(firstPort), HOST: '127.0.0.1', DEV_CLIENT_ENABLED: 'false' });
    let second: Spawned | undefined;
    try {
      await waitUntilReady(first, `http://127.0.0.1:${firstPort}`);
      second = runBuilt(MAIN, { EMBEDDED_PG_DIR: dir, EMBEDDED_PG_PORT: pgPort, PORT: String(secondPort), HOST: '127.0.0.1', DEV_CLIENT_ENABLED: 'false' });
      await waitUntilReady(second, `http://127.0.0.1:${secondPort}`, '/health/ready (second instance)');
      expect(second.stderr()).toMatch(/reusing the embedded PostgreSQL/);

      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([second.exited, new Promise((r) => (timer = setTimeout(() => r('still running'), 20000)))]);
      clearTimeout(timer);
      expect(code).not.toBe('still running');
      expect(code).not.toBe(0);
      expect(jsonLines(second).some((l) => l.level === 50 && /embedded PostgreSQL .* was stopped by the process that started it; exiting/.test(l.msg))).toBe(true);
    } finally {
      await stopSpawned(); // SIGTERM first: the first one stops the embedded PostgreSQL it started
    }
  }, 120000);

  describe('the first database connection', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => {
      await db.drop();
    });

    it('is retried with backoff: a database that comes up a few seconds late is used, and the wait is logged as JSON', async () => {
      const proxy = await startTcpProxy(Number(new URL(db.url).port));
      proxy.down();
      const port = await freePort();
      const run = runBuilt(MAIN, { DATABASE_URL: proxy.via(db.url), PORT: String(port), HOST: '127.0.0.1', DEV_CLIENT_ENABLED: 'false' });
      try {
        await waitFor(() => /database not reachable/.test(run.stderr()), { timeoutMs: 15000, what: 'a retry logged' });
        await new Promise((r) => setTimeout(r, 1500));
        proxy.up();
        await waitUntilReady(run, `http://127.0.0.1:${port}`);
        const retries = jsonLines(run).filter((l) => l.level === 40 && /database not reachable .* attempt \d+, retrying in \d+ ms/.test(l.msg));
        expect(retries.length).toBeGreaterThanOrEqual(2);
        expect(retries.map((l) => Number(/retrying in (\d+) ms/.exec(l.msg)?.[1]))).toEqual([...retries.map((l) => Number(/retrying in (\d+) ms/.exec(l.msg)?.[1]))].sort((a, b) => a - b));
      } finally {
        run.child.kill('SIGTERM');
        await run.exited;
        await proxy.close();
      }
    }, 60000);

    it('a connection the server ends while the probe\'s client is idle (a shutdown, a failover) does not end the process', async () => {
      // The server's FATAL reaches an idle node-postgres client as an 'error' event: with no listener, that event is
      // thrown from the socket's handler and ends the process (seen once in a start stopped by SIGTERM).
      type Internals = { processID: number; connection: { once(event: 'end', listener: () => void): void } };
      const end = Client.prototype.end as (this: Client) => Promise<void>;
      let ended = 0;
      const spy = jest.spyOn(Client.prototype, 'end').mockImplementationOnce(async function (this: Client) {
        const client = this as unknown as Internals;
        const closed = new Promise<void>((resolve) => client.connection.once('end', resolve));
        await db.query('SELECT pg_terminate_backend($1)', [client.processID]);
        await closed; // the FATAL has arrived and the socket is closed
        ended++;
        return end.call(this);
      });
      try {
        await waitForDatabase(db.url, { startupRetryMs: 5000, connectTimeoutMs: 2000 });
        expect(ended).toBe(1);
      } finally {
        spy.mockRestore();
      }
    });

    it('gives up after DATABASE_STARTUP_RETRY_SECONDS: exits non-zero with the cause, every line JSON', async () => {
      const run = runBuilt(MAIN, { DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/nothing`, DATABASE_STARTUP_RETRY_SECONDS: '2', PORT: String(await freePort()) });
      expect(await run.exited).not.toBe(0);
      const failure = jsonLines(run).find((l) => l.level === 50 && l.msg.startsWith('failed to start'));
      expect(failure?.msg).toMatch(/cannot connect to the database \(gave up after \d+ attempt\(s\) in [23] s\): connect ECONNREFUSED/);
    }, 30000);
  });
});
