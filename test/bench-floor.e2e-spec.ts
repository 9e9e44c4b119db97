/**
 * The bench's own parts (npm run bench): the fair floor (bench/floor.js) does per start and check the writes the
 * service does — rows, audit events with their chain, the send to the provider after commit and its outcome —
 * and the load generator times a row from the first request sent to the last answer received, and paces an
 * open loop at the offered rate. Needs the build (the floor chains with dist/src/audit/audit-chain.js), as
 * `npm test` and `npm run bench` do. The Nest floor (bench/nest-floor: the same work behind a minimal NestJS app) is
 * built here (bench/tsconfig.json) and checked the same way, its ValidationPipe included.
 */
import { execFileSync, fork, ChildProcess } from 'node:child_process';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ChainVerifier } from '../src/audit/audit-chain';
import { applyHeapSettings, LAUNCH_FLAGS } from '../src/bootstrap';
import { AppConfig } from '../src/config/app-config';
import { CHAINED_COLUMNS, EVENTS_WITH_LINKS, fromRow, AuditEventRow } from '../src/audit/audit-rows';
import { createTestDatabase, TestDatabase } from './support/database';
import { freePort } from './support/net';

interface Row {
  count: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}
type Req = { path: string; body: unknown; headers?: Record<string, string> };
type Answer = { status: number; body: string };
const load = createRequire(__filename)('../bench/load.js') as {
  closedLoop(o: { name: string; base: string; connections: number; seconds: number; next: (n: number) => Req | null; done: (n: number, a: Answer) => boolean }): Promise<Row>;
  openLoop(o: { name: string; base: string; rate: number; seconds: number; next: (n: number) => Req; done: (n: number, a: Answer) => boolean }): Promise<Row & { offered: number }>;
  post(agent: http.Agent, base: string, path: string, headers: Record<string, string>, body: unknown): Promise<Answer>;
};

const ROOT = path.resolve(__dirname, '..');
const TOKEN = 'bench-provider-token-0123456789';

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/**
 * A fresh database with the service's schema (through its CLI, which applies the migrations) and the floor's client,
 * and `script` (the floor or the Nest floor) serving on it, sending to `smsUrl`; resolves once it said 'ready'.
 */
async function startFloor(script: string, smsUrl: string): Promise<{ db: TestDatabase; proc: ChildProcess; base: string }> {
  const db = await createTestDatabase();
  execFileSync(process.execPath, ['dist/src/cli.js', 'clients:list'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, DATABASE_URL: db.url, NODE_ENV: 'production', OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32), AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32) },
  });
  await db.query(`INSERT INTO api_clients (id, name, scopes, webhook_secret, created_at, max_check_attempts) VALUES ('cli_floor', 'floor', '{}', 'x', now(), 20)`);
  const port = await freePort();
  const proc = fork(path.join(ROOT, script), [], {
    env: { PATH: process.env.PATH, FLOOR_DATABASE_URL: db.url, FLOOR_PORT: String(port), FLOOR_CLIENT_ID: 'cli_floor', FLOOR_SMS_URL: smsUrl, FLOOR_PROVIDER_TOKEN: TOKEN },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise((resolve, reject) => {
    proc.once('message', resolve);
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { db, proc, base: `http://127.0.0.1:${port}` };
}

describe('bench: the fair floor', () => {
  let db: TestDatabase;
  let floor: ChildProcess;
  let base: string;
  const messages: Array<{ auth: string | undefined; body: { to: string; text: string; reference: string } }> = [];
  const provider = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      messages.push({ auth: req.headers.authorization, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"id":"fake-${messages.length}"}`);
    });
  });
  const agent = new http.Agent({ keepAlive: true });

  beforeAll(async () => {
    ({ db, proc: floor, base } = await startFloor('bench/floor.js', `${await listen(provider)}/sms`));
  }, 120_000);

  afterAll(async () => {
    agent.destroy();
    if (floor) {
      floor.kill('SIGTERM');
      await new Promise((r) => floor.once('exit', r));
    }
    provider.close();
    await db?.drop();
  });

  const waitFor = async (check: () => Promise<boolean> | boolean, ms = 10_000) => {
    const until = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > until) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('writes per start and check what the service writes, sends after commit, records the outcome and chains the events', async () => {
    const start = await load.post(agent, base, '/v1/verifications', { 'idempotency-key': 'k-1' }, { phoneNumber: '+819012345678', purpose: 'login' });
    expect(start.status).toBe(201);
    const started = JSON.parse(start.body) as { id: string; status: string };
    expect(started.status).toBe('pending');
    await waitFor(() => messages.length === 1);
    expect(messages[0].auth).toBe(`Bearer ${TOKEN}`);
    expect(messages[0].body.to).toBe('+819012345678');
    const code = /(\d{6})/.exec(messages[0].body.text)![1];
    // a repeat with the same key: the first answer, nothing sent again
    const repeat = await load.post(agent, base, '/v1/verifications', { 'idempotency-key': 'k-1' }, { phoneNumber: '+819012345678', purpose: 'login' });
    expect(repeat.status).toBe(201);
    expect(repeat.body).toBe(start.body);

    const right = await load.post(agent, base, `/v1/verifications/${started.id}/check`, {}, { code });
    expect(JSON.parse(right.body)).toMatchObject({ id: started.id, status: 'approved', valid: true });
    const again = await load.post(agent, base, `/v1/verifications/${started.id}/check`, {}, { code });
    expect(again.status).toBe(409);

    const other = JSON.parse((await load.post(agent, base, '/v1/verifications', { 'idempotency-key': 'k-2' }, { phoneNumber: '+819012345679', purpose: 'login' })).body) as { id: string };
    await waitFor(() => messages.length === 2);
    expect(messages[1].body.to).toBe('+819012345679');
    const wrongCode = /(\d{6})/.exec(messages[1].body.text)![1] === '000000' ? '111111' : '000000';
    const wrong = await load.post(agent, base, `/v1/verifications/${other.id}/check`, {}, { code: wrongCode });
    expect(JSON.parse(wrong.body)).toMatchObject({ status: 'pending', valid: false, attemptsRemaining: 19 });

    // the outcome writes come after the answers: wait for them, for the approval's fold (every second), and for the chain
    await waitFor(async () => (await db.query(`SELECT 1 FROM outbox WHERE status = 'done'`)).length === 2);
    await waitFor(async () => (await db.query(`SELECT 1 FROM risk_approvals`)).length === 0);
    await waitFor(async () => {
      const [r] = await db.query<{ behind: number }>(`SELECT (SELECT max(seq) FROM audit_events) - (SELECT seq FROM audit_chain_head) AS behind`);
      return Number(r.behind) === 0;
    });

    const count = async (sql: string) => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${sql}`))[0].n);
    expect(await db.query(`SELECT status, attempts FROM verifications ORDER BY created_at`)).toEqual([
      { status: 'approved', attempts: 0 },
      { status: 'pending', attempts: 1 },
    ]);
    expect(await count(`idempotency_keys WHERE response_status = 201 AND response_body IS NOT NULL`)).toBe(2);
    expect(await count('phone_sends')).toBe(2);
    expect(await count(`outbox o JOIN outbox_attempts a ON a.outbox_id = o.id WHERE o.status = 'done' AND o.payload IS NULL AND a.ok`)).toBe(2);
    expect(await count('phone_check_failures')).toBe(1);
    expect(await count(`risk_number_accounts WHERE phone_e164 = '+819012345678'`)).toBe(1);
    expect(await db.query(`SELECT kind, unit, sum(started)::int AS started, sum(verified)::int AS verified FROM risk_unit_counts GROUP BY 1, 2 ORDER BY 1`)).toEqual([
      { kind: 'country', unit: 'JP', started: 2, verified: 1 },
      { kind: 'prefix', unit: '81901234', started: 2, verified: 1 },
    ]);
    expect((await db.query<{ type: string }>(`SELECT type FROM audit_events ORDER BY seq`)).map((e) => e.type).sort()).toEqual(
      [
        'verification.created', 'message.queued', 'message.sent', 'verification.approved',
        'verification.created', 'message.queued', 'message.sent', 'verification.check_failed',
      ].sort(),
    );
    // the chain the floor built verifies with the service's own verifier
    const rows = await db.query<AuditEventRow>(`SELECT ${CHAINED_COLUMNS} FROM ${EVENTS_WITH_LINKS} ORDER BY e.seq`);
    const verifier = new ChainVerifier();
    for (const r of rows) expect(verifier.push(fromRow(r))).toBe(true);
    // no code in clear anywhere but the message itself
    const dump = JSON.stringify(await db.query(`SELECT * FROM audit_events`)) + JSON.stringify(await db.query(`SELECT * FROM idempotency_keys`));
    expect(dump).not.toContain(code);
  }, 60_000);
});

describe('bench: the Nest floor', () => {
  // the floor's work behind a minimal NestJS app (bench/nest-floor/main.ts), built here as `npm run bench` builds it
  let db: TestDatabase;
  let nest: ChildProcess;
  let base: string;
  const messages: Array<{ to: string; text: string }> = [];
  const provider = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      messages.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' }).end(`{"id":"fake-${messages.length}"}`);
    });
  });
  const agent = new http.Agent({ keepAlive: true });

  beforeAll(async () => {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'bench/tsconfig.json'], { cwd: ROOT });
    ({ db, proc: nest, base } = await startFloor('dist/bench/nest-floor/main.js', `${await listen(provider)}/sms`));
  }, 180_000);

  afterAll(async () => {
    agent.destroy();
    if (nest) {
      const exited = new Promise<number | null>((r) => nest.once('exit', r));
      nest.kill('SIGTERM');
      // SIGTERM: loops stopped, app and pool closed, exit 0, as floor.js
      expect(await exited).toBe(0);
    }
    provider.close();
    await db?.drop();
  });

  it('starts, sends the code, approves the right one and counts a wrong one, through the ValidationPipe', async () => {
    const start = await load.post(agent, base, '/v1/verifications', { 'idempotency-key': 'n-1' }, { phoneNumber: '+819012345678', purpose: 'login' });
    expect(start.status).toBe(201);
    const started = JSON.parse(start.body) as { id: string; status: string };
    expect(started.status).toBe('pending');
    const until = Date.now() + 10_000;
    while (messages.length < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(messages[0].to).toBe('+819012345678');
    const code = /(\d{6})/.exec(messages[0].text)![1];

    const wrong = await load.post(agent, base, `/v1/verifications/${started.id}/check`, {}, { code: code === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(200);
    expect(JSON.parse(wrong.body)).toMatchObject({ id: started.id, status: 'pending', valid: false, attemptsRemaining: 19 });
    const right = await load.post(agent, base, `/v1/verifications/${started.id}/check`, {}, { code });
    expect(right.status).toBe(200);
    expect(JSON.parse(right.body)).toMatchObject({ id: started.id, status: 'approved', valid: true });
    expect((await load.post(agent, base, `/v1/verifications/${started.id}/check`, {}, { code })).status).toBe(409);

    // the ValidationPipe runs, with the service's options: an unknown field, a phoneNumber that is not a string of at
    // most 32 characters, a code that is not digits are 400 and write nothing
    const bad = [
      ['/v1/verifications', { phoneNumber: '+819012345670', purpose: 'login', extra: 1 }, 'property extra should not exist'],
      ['/v1/verifications', { phoneNumber: 819012345670, purpose: 'login' }, 'phoneNumber must be a string'],
      ['/v1/verifications', { phoneNumber: '+8190123456701234567890123456789012', purpose: 'login' }, 'phoneNumber must be shorter than or equal to 32 characters'],
      ['/v1/verifications', { phoneNumber: '+819012345670', purpose: 'Log In' }, 'purpose must be 1-64 characters of a-z 0-9 _ . -'],
      [`/v1/verifications/${started.id}/check`, { code: '12ab' }, 'code must be 4 to 10 digits'],
    ] as const;
    for (const [url, body, message] of bad) {
      const answer = await load.post(agent, base, url, {}, body);
      expect(answer.status).toBe(400);
      expect((JSON.parse(answer.body) as { message: string[] }).message).toContain(message);
    }
    expect(await db.query(`SELECT status, attempts FROM verifications`)).toEqual([{ status: 'approved', attempts: 1 }]);
    expect(await db.query(`SELECT verification_id FROM phone_check_failures`)).toEqual([{ verification_id: started.id }]);
    expect(messages).toHaveLength(1);
  }, 60_000);
});

describe('bench: the load generator', () => {
  // answers after 20 ms; records when the first request arrived and the last answer left
  let first = Infinity;
  let last = 0;
  let base: string;
  const server = http.createServer((req, res) => {
    first = Math.min(first, performance.now());
    req.resume();
    req.on('end', () =>
      setTimeout(() => {
        res.end('{}');
        last = Math.max(last, performance.now());
      }, 20),
    );
  });
  beforeAll(async () => {
    base = await listen(server);
  });
  afterAll(() => server.close());

  it('times a closed-loop row from the first request sent to the last answer received, not on a sampling tick', async () => {
    first = Infinity;
    last = 0;
    const row = await load.closedLoop({ name: 't', base, connections: 4, seconds: 0.5, next: () => ({ path: '/x', body: {} }), done: (n, a) => a.status === 200 });
    expect(row.errors).toBe(0);
    // no request starts after 0.5 s; the ones in flight finish about 20 ms later (a 1-s sampling tick would read 1.0x s)
    expect(row.seconds).toBeGreaterThanOrEqual(0.5);
    expect(row.seconds).toBeLessThan(0.9);
    // the server saw the same span, give or take the connections' set-up and the loopback hop on a busy machine
    expect(Math.abs(row.seconds - (last - first) / 1000)).toBeLessThan(0.15);
    expect(row.rps).toBeCloseTo(row.count / row.seconds, 6);
    expect(row.p50).toBeGreaterThanOrEqual(20);
  });

  it('offers an open loop at the given rate whatever the answers take', async () => {
    const row = await load.openLoop({ name: 't', base, rate: 100, seconds: 1, next: () => ({ path: '/x', body: {} }), done: (n, a) => a.status === 200 });
    expect(row.count).toBe(100);
    expect(row.errors).toBe(0);
    expect(row.offered).toBe(100);
    // 100 requests spaced 10 ms apart, each answered 20 ms after it was sent: about 1.01 s
    expect(row.seconds).toBeGreaterThan(0.95);
    expect(row.seconds).toBeLessThan(1.5);
    expect(row.p50).toBeGreaterThanOrEqual(20);
  });
});

describe("the floors run with the service's V8 heap settings", () => {
  it("sets the flags the service sets at its defaults, so GC tuning is not what service/floor measures", () => {
    const { SERVICE_HEAP_FLAGS } = createRequire(__filename)('../bench/floor.js') as { SERVICE_HEAP_FLAGS: string[] };
    const service: string[] = [];
    applyHeapSettings(AppConfig.fromEnv({ NODE_ENV: 'development' }).http, (f) => service.push(f));
    expect(SERVICE_HEAP_FLAGS).toEqual(service);
  });

  it("and are launched, like the service, with the node flags of this checkout's npm start (a baseline with its own)", () => {
    const { launchFlags } = createRequire(__filename)('../bench/load.js') as { launchFlags: (checkout: string) => string[] };
    expect(launchFlags(ROOT)).toEqual([...LAUNCH_FLAGS]);
    const old = mkdtempSync(path.join(tmpdir(), 'bench-baseline-'));
    try {
      writeFileSync(path.join(old, 'package.json'), JSON.stringify({ scripts: { start: 'node dist/src/main.js' } }));
      expect(launchFlags(old)).toEqual([]);
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });
});
