// npm run bench: the built service against a real PostgreSQL (BENCH_DATABASE_URL, else an embedded one),
// a local fake SMS provider, driven over HTTP with autocannon at fixed concurrency; then the same
// workload against the floor (bench/floor.js: node:http + pg, same SQL writes). Prints a markdown table.
// Knobs: BENCH_CONNECTIONS (50), BENCH_REQUESTS (5000 per row), BENCH_FLOWS (1500).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { mkdtempSync, chmodSync, readFileSync } = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const autocannon = require('autocannon');
const { Client } = require('pg');

const ROOT = path.resolve(__dirname, '..');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 50);
const REQUESTS = Number(process.env.BENCH_REQUESTS || 5000);
const FLOWS = Number(process.env.BENCH_FLOWS || 1500);
/** The service's WORKERS (node:cluster workers behind its one port); each worker has its own pool of 10. */
const WORKERS = process.env.BENCH_WORKERS || '1';
const HMAC_KEYS = 'k1:' + 'ab'.repeat(32);
const PHONE_KEY = 'cd'.repeat(32);

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');

let phoneCounter = 0;
const nextPhone = () => `+81901${String(1000000 + phoneCounter++).padStart(7, '0')}`;

async function database() {
  if (process.env.BENCH_DATABASE_URL) return { url: process.env.BENCH_DATABASE_URL, stop: async () => undefined };
  const { startEmbeddedPostgres } = require(path.join(ROOT, 'dist/src/database/embedded-postgres.js'));
  const parent = mkdtempSync(path.join(os.tmpdir(), 'otp-bench-'));
  chmodSync(parent, 0o755);
  return startEmbeddedPostgres({ dir: path.join(parent, 'pg'), port: await freePort() });
}

async function createDatabase(baseUrl, name) {
  const c = new Client({ connectionString: baseUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** The fake SMS provider: records when each number's message arrived and its code. */
function fakeProvider() {
  const received = new Map(); // phone -> { at, code }
  const waiters = new Map();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const at = performance.now();
      const msg = JSON.parse(body);
      const code = /(\d{6})/.exec(msg.text)[1];
      received.set(msg.to, { at, code });
      waiters.get(msg.to)?.({ at, code });
      waiters.delete(msg.to);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"id":"fake-${received.size}"}`);
    });
  });
  return {
    received,
    listen: () => new Promise((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${server.address().port}/sms`))),
    codeFor: (phone) => received.get(phone) ?? new Promise((resolve) => waiters.set(phone, resolve)),
    close: () => new Promise((r) => server.close(r)),
  };
}

function child(script, env, nodeArgs = []) {
  const proc = spawn(process.execPath, [...nodeArgs, script], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  return { proc, output: () => out };
}

async function waitReady(url) {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error(`not ready: ${url}`);
}

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function peakRssMb(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** autocannon over a list of request bodies, one each; returns the row. */
async function cannon(name, url, headers, bodies, opts = {}) {
  let i = 0;
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    amount: bodies.length,
    headers: { 'content-type': 'application/json', ...headers },
    requests: [
      {
        setupRequest: (req) => {
          const b = bodies[i++ % bodies.length];
          opts.onSend?.(b);
          return { ...req, path: typeof b.path === 'string' ? b.path : req.path, body: JSON.stringify(b.body) };
        },
        onResponse: opts.onResponse,
      },
    ],
  });
  const expected = opts.expectStatus ?? 2;
  const bad = result.errors + result.timeouts + (expected === 2 ? result.non2xx : 0);
  return {
    name,
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p975: result.latency.p97_5,
    p99: result.latency.p99,
    errors: bad,
    total: result.requests.total,
    raw: result,
  };
}

/** start → code from the provider → check, by CONNECTIONS concurrent workers; latency per whole flow. */
async function flows(name, startFn, codeFn, checkFn) {
  const latencies = [];
  let errors = 0;
  let left = FLOWS;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (left-- > 0) {
        const s = performance.now();
        try {
          const phone = nextPhone();
          const started = await startFn(phone);
          const code = await codeFn(phone, started);
          const ok = await checkFn(started.id, code);
          if (!ok) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { name, rps: FLOWS / seconds, p50: pct(latencies, 50), p975: pct(latencies, 97.5), p99: pct(latencies, 99), errors, total: FLOWS };
}

async function post(url, headers, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function main() {
  const db = await database();
  const stamp = Date.now().toString(36);
  const svcUrl = await createDatabase(db.url, `bench_svc_${stamp}`);
  const floorUrl = await createDatabase(db.url, `bench_floor_${stamp}`);
  const provider = fakeProvider();
  const smsUrl = await provider.listen();

  // clients (the CLI also applies the migrations)
  const cliEnv = { DATABASE_URL: svcUrl, NODE_ENV: 'production', OTP_HMAC_KEYS: HMAC_KEYS, AUDIT_PHONE_HASH_KEY: PHONE_KEY };
  const created = execFileSync(process.execPath, ['dist/src/cli.js', 'clients:create', '--name', 'bench', '--scopes', 'verifications:write,verifications:check'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...cliEnv },
  }).toString();
  const key = /otp_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}/.exec(created)[0];
  execFileSync(process.execPath, ['dist/src/cli.js', 'clients:list'], { cwd: ROOT, env: { PATH: process.env.PATH, ...cliEnv, DATABASE_URL: floorUrl } });
  for (const url of [svcUrl, floorUrl]) {
    const c = new Client({ connectionString: url });
    await c.connect();
    await c.query(`INSERT INTO api_clients (id, name, scopes, webhook_secret, created_at) VALUES ('cli_floor', 'floor', '{}', 'x', now()) ON CONFLICT DO NOTHING`);
    await c.query(`UPDATE api_clients SET max_check_attempts = 20`);
    await c.end();
  }

  const port = await freePort();
  const svc = child('dist/src/main.js', {
    NODE_ENV: 'production',
    OTP_HMAC_KEYS: HMAC_KEYS,
    AUDIT_PHONE_HASH_KEY: PHONE_KEY,
    DATABASE_URL: svcUrl,
    DATABASE_POOL_SIZE: '10',
    PORT: String(port),
    HOST: '127.0.0.1',
    SMS_PROVIDER: 'http',
    SMS_HTTP_URL: smsUrl,
    // production refuses the console provider; the bench sends no voice messages
    VOICE_PROVIDER: 'http',
    VOICE_HTTP_URL: smsUrl,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL || 'warn',
    THROTTLE_LIMIT: '1000000000',
    PHONE_SENDS_PER_15_MIN: '1000000',
    PHONE_SENDS_PER_24_H: '1000000',
    PHONE_CHECK_FAILURES_PER_HOUR: '1000000',
    // Thousands of unverified codes to consecutive numbers of one prefix are what SMS pumping looks like: record
    // the trips (the screening work is the same) rather than deny the rest of the run.
    RISK_PUMPING_MODE: 'record_only',
    WORKERS,
  }, process.env.BENCH_CPU_PROF ? ['--cpu-prof'] : []);
  const floorPort = await freePort();
  const floor = child('bench/floor.js', { FLOOR_DATABASE_URL: floorUrl, FLOOR_PORT: String(floorPort), FLOOR_CLIENT_ID: 'cli_floor', FLOOR_POOL_SIZE: '10' });
  const base = `http://127.0.0.1:${port}`;
  const floorBase = `http://127.0.0.1:${floorPort}`;
  await waitReady(`${base}/health/ready`);
  // Ready answers once the first worker listens: wait for all of them (each logs its own "listening on").
  const workers = WORKERS === 'auto' ? os.availableParallelism() : Number(WORKERS);
  for (let i = 0; i < 600 && (svc.output().match(/listening on/g) ?? []).length < workers; i++) await sleep(100);
  await new Promise((resolve) => floor.proc.once('message', resolve));
  await sleep(300);
  const auth = { authorization: `Bearer ${key}` };
  const rows = [];

  // warm-up of both
  const warm = Array.from({ length: 500 }, () => ({ body: { phoneNumber: nextPhone(), purpose: 'login' } }));
  await cannon('warm', `${base}/v1/verifications`, auth, warm);
  await cannon('warm', `${floorBase}/start`, {}, warm.map((w) => ({ body: { phone: w.body.phoneNumber } })));

  // 1. start
  const sentAt = new Map();
  const started = [];
  const startBodies = Array.from({ length: REQUESTS }, () => ({ body: { phoneNumber: nextPhone(), purpose: 'login' } }));
  const svcStart = await cannon('start', `${base}/v1/verifications`, auth, startBodies, {
    onSend: (b) => sentAt.set(b.body.phoneNumber, performance.now()),
    onResponse: (status, body) => {
      if (status === 201) started.push(JSON.parse(body).id);
    },
  });
  const floorStarted = [];
  const floorStart = await cannon('start', `${floorBase}/start`, {}, startBodies.map((b) => ({ body: { phone: b.body.phoneNumber } })), {
    onResponse: (status, body) => {
      if (status === 201) floorStarted.push(JSON.parse(body));
    },
  });
  rows.push([svcStart, floorStart]);

  // time from the start request to the provider receiving the message
  for (let i = 0; i < 100 && provider.received.size < startBodies.length + warm.length; i++) await sleep(100);
  const ttp = startBodies
    .map((b) => (provider.received.get(b.body.phoneNumber)?.at ?? NaN) - sentAt.get(b.body.phoneNumber))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);

  // 2. check with the right code (each verification approved once)
  const byId = new Map();
  const svcChecks = [];
  for (const b of startBodies) {
    const got = provider.received.get(b.body.phoneNumber);
    if (got) byId.set(b.body.phoneNumber, got.code);
  }
  // ids in start order are not tied to phones by autocannon; read them from the service
  const lookup = new Client({ connectionString: svcUrl });
  await lookup.connect();
  const idRows = (await lookup.query(`SELECT id, phone_e164 FROM verifications WHERE id = ANY($1)`, [started])).rows;
  await lookup.end();
  for (const r of idRows) if (byId.has(r.phone_e164)) svcChecks.push({ path: `/v1/verifications/${r.id}/check`, body: { code: byId.get(r.phone_e164) } });
  const svcRight = await cannon('check (right code)', `${base}/v1/verifications/x/check`, auth, svcChecks);
  const floorRight = await cannon('check (right code)', `${floorBase}/check`, {}, floorStarted.map((v) => ({ body: { id: v.id, code: v.code } })));
  rows.push([svcRight, floorRight]);

  // 3. check with a wrong code: 250 fresh verifications, 19 wrong codes each (the client allows 20)
  const pool = [];
  const floorPool = [];
  for (let i = 0; i < 250; i++) {
    const phone = nextPhone();
    pool.push((await post(`${base}/v1/verifications`, auth, { phoneNumber: phone, purpose: 'login' })).body.id);
    floorPool.push((await post(`${floorBase}/start`, {}, { phone })).body);
  }
  const wrongCount = Math.min(REQUESTS, 250 * 19);
  const wrongBodies = Array.from({ length: wrongCount }, (_, i) => ({ path: `/v1/verifications/${pool[i % 250]}/check`, body: { code: '000000' } }));
  const floorWrong = Array.from({ length: wrongCount }, (_, i) => ({ body: { id: floorPool[i % 250].id, code: floorPool[i % 250].code === '000000' ? '111111' : '000000' } }));
  const svcWrongRow = await cannon('check (wrong code)', `${base}/v1/verifications/x/check`, auth, wrongBodies);
  const floorWrongRow = await cannon('check (wrong code)', `${floorBase}/check`, {}, floorWrong);
  rows.push([svcWrongRow, floorWrongRow]);

  // 4. the full flow
  const svcFlow = await flows(
    'full flow (start → code at provider → check)',
    async (phone) => (await post(`${base}/v1/verifications`, auth, { phoneNumber: phone, purpose: 'login' })).body,
    async (phone) => (await provider.codeFor(phone)).code,
    async (id, code) => (await post(`${base}/v1/verifications/${id}/check`, auth, { code })).body?.valid === true,
  );
  const floorFlow = await flows(
    'full flow (start → code at provider → check)',
    async (phone) => (await post(`${floorBase}/start`, {}, { phone })).body,
    async (_phone, started) => started.code,
    async (id, code) => (await post(`${floorBase}/check`, {}, { id, code })).body?.valid === true,
  );
  rows.push([svcFlow, floorFlow]);

  // time to provider without saturation: one start at a time
  const lightTtp = [];
  for (let i = 0; i < 200; i++) {
    const phone = nextPhone();
    const t0 = performance.now();
    await post(`${base}/v1/verifications`, auth, { phoneNumber: phone, purpose: 'login' });
    lightTtp.push((await provider.codeFor(phone)).at - t0);
  }
  lightTtp.sort((a, b) => a - b);

  // With workers: the primary and every worker, summed.
  const rss = [svc.proc.pid, ...childPids(svc.proc.pid)].reduce((sum, pid) => sum + peakRssMb(pid), 0);
  const floorRss = peakRssMb(floor.proc.pid);
  svc.proc.kill('SIGTERM');
  floor.proc.kill('SIGTERM');
  await Promise.all([new Promise((r) => svc.proc.on('exit', r)), new Promise((r) => floor.proc.on('exit', r))]);
  await provider.close();
  if (process.env.BENCH_DATABASE_URL) {
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    for (const url of [svcUrl, floorUrl]) await admin.query(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
    await admin.end();
  }
  await db.stop();

  const lines = [];
  lines.push(`Benchmark: ${CONNECTIONS} connections, ${os.cpus().length} cores (${os.cpus()[0].model}), Node ${process.version}, service LOG_LEVEL=${process.env.BENCH_LOG_LEVEL || 'warn'}, service WORKERS=${WORKERS}, pool 10 each (per worker).`);
  lines.push('');
  lines.push('| workload | service req/s | p50 ms | p97.5 ms | p99 ms | errors | floor req/s | floor p99 ms | service/floor |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [s, f] of rows) {
    lines.push(`| ${s.name} | ${fmt(s.rps, 0)} | ${fmt(s.p50)} | ${fmt(s.p975)} | ${fmt(s.p99)} | ${s.errors}/${s.total} | ${fmt(f.rps, 0)} | ${fmt(f.p99)} | ${fmt(s.rps / f.rps, 2)} |`);
  }
  lines.push('');
  lines.push(`Time from the start request to the fake provider receiving the message, during the start row at ${CONNECTIONS} connections (${ttp.length} messages): p50 ${fmt(pct(ttp, 50))} ms, p99 ${fmt(pct(ttp, 99))} ms.`);
  lines.push(`The same one request at a time (${lightTtp.length} messages): p50 ${fmt(pct(lightTtp, 50))} ms, p99 ${fmt(pct(lightTtp, 99))} ms.`);
  lines.push(`Peak RSS: service ${fmt(rss, 0)} MB, floor ${fmt(floorRss, 0)} MB.`);
  lines.push('(autocannon reports p97.5, not p95. The full-flow rows are timed per flow by this script; the floor has no provider, so its flow takes the code from its own answer.)');
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
