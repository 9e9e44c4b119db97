// npm run bench: the built service against a real PostgreSQL (BENCH_DATABASE_URL, else an embedded one) and a
// local fake SMS provider, then the fair floor (bench/floor.js: node:http + pg, the same SQL per request and
// the same send to the provider) in the same run, each in its own database. Prints a markdown table.
//
// Warm-up: BENCH_WARMUP_SECONDS (10) of closed-loop starts per target before the first row.
// Closed loop: BENCH_CONNECTIONS (50) connections, each row at least BENCH_SECONDS (10) s, timed from the
// first request sent to the last answer received (bench/load.js), BENCH_REPS (3) repetitions printed as
// min/median/max; the service and the floor alternate row by row so that drift on a shared machine hits both.
// Open loop: start and check offered at BENCH_OPEN_FRACTION (0.5) of the floor's median closed-loop rate,
// BENCH_REPS repetitions of BENCH_SECONDS (targets in turn), latency from each request's scheduled time, and the
// time from the start request to the fake provider receiving the message; p99 printed as min/median/max.
// Every row also records the share of the host's CPU the hypervisor stole while it ran (bench/host-steal.js), printed
// after the tables beside each closed-loop repetition's service/floor ratio and each open-loop repetition's p99: on a
// shared virtual machine a tail, or one side of a ratio, can be the host's.
// BENCH_STALLS=1: what each open-loop repetition's slowest requests met (bench/stall-report.js): every target runs with
// bench/stall-log.js (its GC pauses of 2 ms or more and event-loop turns late by 10 ms or more), this process (the load
// generator and the fake provider) watches its own the same way, the host's CPU is read every 100 ms for spells of 20 %
// steal or more, and bench/cpu-probe.js watches each CPU (its stalls, and the kernel's kdamond threads); after each
// open-loop repetition's line, its p99 tail in bursts with the pauses each overlapped.
// BENCH_NODE_ARGS: node flags for every target (service, floor, Nest floor, baseline) after the launch flags of `npm start`,
// e.g. "--max-semi-space-size=16" (NODE_OPTIONS does not reach them: each runs with PATH and its own settings only).
// BENCH_PROVIDER=twilio: the service sends through its real Twilio provider (the official SDK, form-encoded
// Messages.json with Basic auth) to a Twilio-shaped fake on the same server; the floor keeps its plain JSON send.
// BENCH_BASELINE=<dir>: a checkout of another commit, built (npm ci && npm run build there), run as a third target
// ('before') beside this one, each in its own database, rows interleaved, and printed as a before/after table.
// BENCH_BASELINE_WORKERS: the baseline's WORKERS (BENCH_WORKERS unless given). With BENCH_BASELINE=. it compares
// worker counts of one build in one run: BENCH_WORKERS=2 BENCH_BASELINE=. BENCH_BASELINE_WORKERS=1 (README,
// "Benchmarks").
// BENCH_NEST_FLOOR=1: the Nest floor (bench/nest-floor, built by `npm run bench` to dist/bench: the floor's work behind
// a minimal NestJS app with the service's adapter and ValidationPipe, nothing else) as another target ('nest'), in its
// own database, rows interleaved, and a floor / Nest floor / service table: how much of the gap is the framework itself.
// BENCH_SEED=N first seeds N verifications (with their phone-limit, outbox and audit rows, chained) into the
// service's database by bulk SQL (bench/seed.js), and adds the service on an empty database as another target
// ('empty', rows interleaved), printed as a seeded/empty table. The floor's database stays empty.
// BENCH_SEEDED_DATABASE=<name> (with BENCH_DATABASE_URL): the service runs on that database, one an earlier
// BENCH_SEED run kept (BENCH_KEEP=1), instead of seeding again (10 million take about half an hour); it is never dropped.
// BENCH_EXPLAIN=<PostgreSQL server log file> (with BENCH_DATABASE_URL, superuser): after the rows, a second service
// on the service's database with auto_explain on (ANALYZE, BUFFERS, every statement) serves a few starts and right
// and wrong checks one at a time; the plans of its statements, read from the server log, are printed after the tables.
// Housekeeping and the expiry sweeper: off in every measured service. With a seeded database, after the rows, a service with it on prunes the
// seed's backlog while open-loop starts run beside it (housekeepingPass; BENCH_HOUSEKEEPING_MAX_SECONDS, 1800, caps it).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { mkdtempSync, chmodSync, readFileSync, rmSync, statSync, openSync, readSync, closeSync } = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { URLSearchParams } = require('node:url');
const { performance } = require('node:perf_hooks');
const { Client } = require('pg');
const { closedLoop, openLoop, post, agent, pct, freePort, launchFlags, benchPhone, FLOOR_CLIENT_ID, BENCH_NODE_ARGS: NODE_ARGS, SERVICE_BENCH_LIMITS } = require('./load');
const { withSteal } = require('./host-steal');
const { readPauses, watchBenchProcess, stallReport } = require('./stall-report');
const { damonState } = require('./cpu-probe');

const ROOT = path.resolve(__dirname, '..');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 50);
const SECONDS = Number(process.env.BENCH_SECONDS || 10);
const REPS = Number(process.env.BENCH_REPS || 3);
const OPEN_FRACTION = Number(process.env.BENCH_OPEN_FRACTION || 0.5);
const SEED = Number(process.env.BENCH_SEED || 0);
const SEEDED_DB = process.env.BENCH_SEEDED_DATABASE || null;
const EXPLAIN_LOG = process.env.BENCH_EXPLAIN || null;
const HOUSEKEEPING_MAX_S = Number(process.env.BENCH_HOUSEKEEPING_MAX_SECONDS || 1800);
/** Seconds of closed-loop starts each target gets before the first row. */
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS || 10);
/** When the housekeeping phase's service runs its first pass: after its warm-up and one row before the pass. */
const HOUSEKEEPING_FIRST_S = WARMUP + SECONDS + 5;
/** The service's WORKERS (node:cluster workers behind its one port); each worker has its own pool of 10. */
const WORKERS = process.env.BENCH_WORKERS || '1';
const BASELINE = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : null;
const BASELINE_WORKERS = process.env.BENCH_BASELINE_WORKERS || WORKERS;
const NEST_FLOOR = process.env.BENCH_NEST_FLOOR === '1';
const STALLS = process.env.BENCH_STALLS === '1';
/** With BENCH_STALLS=1: a directory for the targets' pause files, removed at the end. */
const STALL_DIR = STALLS ? mkdtempSync(path.join(os.tmpdir(), 'otp-bench-stalls-')) : null;
let stallFiles = 0;
const HMAC_KEYS = 'k1:' + 'ab'.repeat(32);
const PHONE_KEY = 'cd'.repeat(32);
const PROVIDER_TOKEN = 'bench-provider-token-0123456789';
const PROVIDER = process.env.BENCH_PROVIDER || 'http';
const TWILIO_SID = 'AC' + '0123456789abcdef'.repeat(2);
const TWILIO_TOKEN = 'bench-twilio-auth-token';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
/** A share of the host's CPU stolen by the hypervisor (bench/host-steal.js), as a percentage. */
const stolen = (r) => `${fmt(100 * r.steal, 0)} %`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// the time of day (UTC) on each line, to set a row beside the database server's log (a checkpoint, say)
const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// Numbers spread over many prefixes, as real traffic is, apart from the seeded ones (bench/load.js, benchPhone).
let phoneCounter = 0;
const nextPhone = () => benchPhone(phoneCounter++);

async function database() {
  if (process.env.BENCH_DATABASE_URL) return { url: process.env.BENCH_DATABASE_URL, stop: async () => undefined };
  const { startEmbeddedPostgres } = require(path.join(ROOT, 'dist/src/database/embedded-postgres.js'));
  const parent = mkdtempSync(path.join(os.tmpdir(), 'otp-bench-'));
  chmodSync(parent, 0o755);
  return startEmbeddedPostgres({ dir: path.join(parent, 'pg'), port: await freePort() });
}

function databaseUrl(baseUrl, name) {
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function createDatabase(baseUrl, name) {
  const c = new Client({ connectionString: baseUrl });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  return databaseUrl(baseUrl, name);
}

/** The fake SMS provider (the `http` provider's contract: POST JSON {to, text, reference}, bearer token): when each number's message arrived, and its code. */
function fakeProvider() {
  const received = new Map(); // phone -> { at, code }
  const waiters = new Map();
  let count = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const at = performance.now();
      const got = (to, text) => {
        const code = /(\d{6})/.exec(text)[1];
        received.set(to, { at, code });
        waiters.get(to)?.({ at, code });
        waiters.delete(to);
      };
      if (req.url === `/2010-04-01/Accounts/${TWILIO_SID}/Messages.json`) {
        // Twilio's Programmable Messaging: form body, Basic auth with the account SID and auth token, 201 with the message resource
        if (req.headers.authorization !== `Basic ${Buffer.from(`${TWILIO_SID}:${TWILIO_TOKEN}`).toString('base64')}`) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"code":20003,"message":"Authenticate","status":401}');
          return;
        }
        const form = new URLSearchParams(body);
        got(form.get('To'), form.get('Body'));
        const sid = `SM${String(++count).padStart(32, '0')}`;
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ sid, account_sid: TWILIO_SID, to: form.get('To'), from: form.get('From'), status: 'queued', num_segments: '1', error_code: null, error_message: null }));
        return;
      }
      if (req.headers.authorization !== `Bearer ${PROVIDER_TOKEN}`) {
        res.writeHead(401).end();
        return;
      }
      const msg = JSON.parse(body);
      got(msg.to, msg.text);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"id":"fake-${++count}"}`);
    });
  });
  server.keepAliveTimeout = 30_000;
  return {
    received,
    listen: () => new Promise((r) => server.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${server.address().port}/sms`))),
    codeFor: (phone) => received.get(phone) ?? new Promise((resolve) => waiters.set(phone, resolve)),
    close: () => new Promise((r) => server.close(r)),
  };
}

function child(script, env, nodeArgs = [], cwd = ROOT) {
  // BENCH_STALLS=1: the target's own pauses, one JSON line each (bench/stall-log.js as a preload; workers inherit it)
  const stallFile = STALL_DIR ? path.join(STALL_DIR, `${stallFiles++}.jsonl`) : null;
  const stallArgs = stallFile ? ['--require', path.join(ROOT, 'bench/stall-log.js')] : [];
  const proc = spawn(process.execPath, [...launchFlags(cwd), ...NODE_ARGS, ...stallArgs, ...nodeArgs, script], {
    cwd,
    env: { PATH: process.env.PATH, ...env, ...(stallFile ? { STALL_LOG_FILE: stallFile } : {}) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  return { proc, output: () => out, pauses: () => readPauses(stallFile) };
}

/** Each request of an open-loop row as [latency ms, scheduled send (epoch ms)], for stallReport: wraps onSent and done. */
function traceRequests(opts) {
  if (!STALLS) return { requests: [], opts };
  const sent = [];
  const requests = [];
  return {
    requests,
    opts: Object.assign({}, opts, {
      onSent: (n, req, at) => {
        sent[n] = at;
        opts.onSent?.(n, req, at);
      },
      done: (n, answer, req) => {
        requests.push([performance.now() - sent[n], performance.timeOrigin + sent[n]]);
        return opts.done(n, answer, req);
      },
    }),
  };
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

/** The commit a checkout is at, for the table's caption. */
function gitHead(dir) {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dir }).toString().trim();
  } catch {
    return 'no git';
  }
}

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function rssMb(pid, field) {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** One system under test (the service or the floor): the same REST paths, bodies and answers. */
function target(name, base, headers, provider) {
  let idem = 0;
  const startReq = (phone) => ({
    path: '/v1/verifications',
    headers: { 'idempotency-key': `${name}-${phone}-${idem++}` },
    body: { phoneNumber: phone, purpose: 'login' },
  });
  const checkReq = (id, code) => ({ path: `/v1/verifications/${id}/check`, body: { code } });
  const t = {
    name,
    base,
    headers,
    pool: [], // started, not yet checked: { id, phone }
    wrong: [], // for the wrong-code rows
    wrongCursor: 0,
    startReq,
    checkReq,
    /** Closed-loop starts; the started ones join the pool for the check rows. */
    starts: (label, seconds, limit = Infinity) =>
      closedLoop({
        name: label,
        base,
        connections: CONNECTIONS,
        seconds,
        headers,
        next: (n) => (n < limit ? startReq(nextPhone()) : null),
        done: (n, answer, r) => {
          if (answer.status !== 201) return false;
          t.pool.push({ id: JSON.parse(answer.body).id, phone: r.body.phoneNumber, at: performance.now() });
          return true;
        },
      }),
    /** Tops the pool up to n verifications whose code reached the provider. */
    fill: async (n) => {
      // codes live 300 s: leave out the ones that might expire before the row ends (a slow top-up can take
      // minutes on a busy machine, so look again after it)
      for (let round = 0; round < 5; round++) {
        const fresh = performance.now() - 200_000;
        for (const v of t.pool) if (v.at <= fresh) provider.received.delete(v.phone);
        t.pool = t.pool.filter((v) => v.at > fresh);
        if (t.pool.length >= n) break;
        await t.starts('fill', 3600, n - t.pool.length);
      }
      for (let i = 0; i < 200 && t.pool.some((v) => !provider.received.has(v.phone)); i++) await sleep(50);
      t.pool = t.pool.filter((v) => provider.received.has(v.phone));
    },
    takeCheck: () => {
      const v = t.pool.shift();
      if (!v) return null;
      const { code } = provider.received.get(v.phone);
      provider.received.delete(v.phone); // the bench's own heap stays small: its GC pauses delay sends and answers
      return checkReq(v.id, code);
    },
    // the verifications in turn, so that consecutive requests touch different rows; 19 wrong codes each
    takeWrong: () => {
      if (t.wrongCursor >= t.wrong.length * 19) return null;
      const v = t.wrong[t.wrongCursor++ % t.wrong.length];
      return checkReq(v.id, provider.received.get(v.phone).code === '000000' ? '111111' : '000000');
    },
  };
  return t;
}

const validAnswer = (n, answer) => answer.status === 200 && JSON.parse(answer.body).valid === true;
const wrongAnswer = (n, answer) => answer.status === 200 && JSON.parse(answer.body).valid === false;

/** The database server's connection for reading its WAL position (set in main). */
let walReader = null;

/**
 * `fn`'s result with the WAL the server wrote while it ran (`walBytes`, from pg_current_wal_lsn: the whole cluster's,
 * so the other targets, idle meanwhile, add their background loops' few writes), and the share of the host's CPU the
 * hypervisor stole meanwhile (`steal`).
 */
async function withWal(fn) {
  const { lsn } = (await walReader.query('SELECT pg_current_wal_lsn() AS lsn')).rows[0];
  const r = await withSteal(fn);
  const { bytes } = (await walReader.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::float8 AS bytes', [lsn])).rows[0];
  return { ...r, walBytes: bytes };
}

async function row(t, workload, provider, expectCheckRate) {
  switch (workload) {
    case 'start':
      return withWal(() => t.starts('start', SECONDS));
    case 'check (right code)':
      await t.fill(Math.ceil(expectCheckRate * SECONDS * 1.6) + 200);
      return withWal(() => closedLoop({ name: workload, base: t.base, connections: CONNECTIONS, seconds: SECONDS, headers: t.headers, next: t.takeCheck, done: validAnswer }));
    case 'check (wrong code)': {
      // fresh verifications for this row's wrong codes, 19 each
      const need = Math.ceil((expectCheckRate * SECONDS * 1.3) / 19) + 50;
      await t.fill(need);
      for (const v of t.wrong) provider.received.delete(v.phone);
      t.wrong = t.pool.splice(0, need);
      t.wrongCursor = 0;
      return withWal(() => closedLoop({ name: workload, base: t.base, connections: CONNECTIONS, seconds: SECONDS, headers: t.headers, next: t.takeWrong, done: wrongAnswer }));
    }
    case 'full flow (start → code at provider → check)':
      return withWal(() => closedLoop({
        name: workload,
        base: t.base,
        connections: CONNECTIONS,
        seconds: SECONDS,
        task: async (n, ag) => {
          const phone = nextPhone();
          const r = t.startReq(phone);
          const started = await post(ag, t.base, r.path, { ...t.headers, ...r.headers }, r.body);
          if (started.status !== 201) return `start ${started.status}`;
          const { code } = await provider.codeFor(phone);
          provider.received.delete(phone);
          const c = t.checkReq(JSON.parse(started.body).id, code);
          const checked = await post(ag, t.base, c.path, t.headers, c.body);
          return validAnswer(n, checked) || `check ${checked.status}${checked.status === 200 ? ' not valid' : ''}`;
        },
      }));
    default:
      throw new Error(workload);
  }
}

/** Open-loop start at `rate`: latency from the scheduled send, and scheduled send → message at the provider. */
async function openStart(t, provider, rate) {
  const sentAt = new Map();
  const traced = traceRequests({
    name: 'start',
    base: t.base,
    rate,
    seconds: SECONDS,
    headers: t.headers,
    next: () => t.startReq(nextPhone()),
    onSent: (n, req, at) => sentAt.set(req.body.phoneNumber, at),
    done: (n, answer) => answer.status === 201,
  });
  const r = Object.assign(await withSteal(() => openLoop(traced.opts)), { requests: traced.requests });
  for (let i = 0; i < 100 && [...sentAt.keys()].some((p) => !provider.received.has(p)); i++) await sleep(50);
  const ttp = [...sentAt].map(([phone, at]) => (provider.received.get(phone)?.at ?? NaN) - at);
  for (const phone of sentAt.keys()) provider.received.delete(phone);
  const lost = ttp.filter((x) => !Number.isFinite(x)).length;
  const sorted = ttp.filter(Number.isFinite).sort((a, b) => a - b);
  return { ...r, ttpP50: pct(sorted, 50), ttpP99: pct(sorted, 99), ttpLost: lost };
}

async function openCheck(t, rate) {
  await t.fill(Math.ceil(rate * SECONDS) + 100);
  const reqs = Array.from({ length: Math.ceil(rate * SECONDS) + 1 }, () => t.takeCheck());
  const traced = traceRequests({ name: 'check (right code)', base: t.base, rate, seconds: SECONDS, headers: t.headers, next: (n) => reqs[n], done: validAnswer });
  return Object.assign(await withSteal(() => openLoop(traced.opts)), { requests: traced.requests });
}

/**
 * The measured services run with housekeeping off. On a seeded database this measures it on its own: a service with
 * it on (warmed up, its first pass one row later) prunes the seed's backlog (the seed spans
 * 30 days: idempotency keys, phone sends and outbox rows past their time) while open-loop starts are offered at
 * `rate`, row after row, until the pass ends. The pass is read from the service's /metrics every 0.5 s.
 */
async function housekeepingPass(url, serviceEnv, headers, provider, rate) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // its first pass comes HOUSEKEEPING_FIRST_S after start, once the warm-up has run (a cold service's first row read
  // p50 127 ms / p99 843 ms at 98 starts/s on a 1 M seed, against 8 / 38 ms later: no baseline for the pass's rows)
  const svc = child('dist/src/main.js', { ...serviceEnv(url, port), WORKERS: '1', HOUSEKEEPING_ENABLED: 'true', HOUSEKEEPING_INTERVAL_SECONDS: String(HOUSEKEEPING_FIRST_S) });
  const scrape = async () => {
    // the service's own counters (otp_housekeeping_*): rows pruned per table, passes ended
    const text = await (await fetch(`${base}/metrics`)).text();
    const pruned = {};
    for (const m of text.matchAll(/^otp_housekeeping_pruned_rows_total\{table="([^"]+)"[^}]*\} (\d+)/gm)) pruned[m[1]] = Number(m[2]);
    const runs = (result) => Number(new RegExp(`^otp_housekeeping_runs_total\\{result="${result}"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { pruned, total: Object.values(pruned).reduce((a, b) => a + b, 0), ended: runs('ran') + runs('failed'), failed: runs('failed') };
  };
  const t0 = performance.now();
  const rows = [];
  let begun = null;
  let ended = null;
  let last = null;
  try {
    await waitReady(`${base}/health/ready`);
    const t = target('housekeeping', base, headers, provider);
    await t.starts('warm', WARMUP);
    const poller = (async () => {
      while (!ended && performance.now() - t0 < HOUSEKEEPING_MAX_S * 1000) {
        last = await scrape();
        if (begun === null && last.total > 0) begun = performance.now();
        if (last.ended > 0) ended = performance.now();
        else await sleep(500);
      }
    })();
    while (!ended && performance.now() - t0 < HOUSEKEEPING_MAX_S * 1000) {
      const from = performance.now();
      const r = { ...(await openStart(t, provider, rate)), from, to: performance.now() };
      rows.push(r);
      log(`housekeeping row ${rows.length}${begun === null ? '' : ended === null ? ', pass running' : ', pass ended'}: achieved ${fmt(r.rps, 0)}/s p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} errors ${r.errors}${r.errors ? ' ' + JSON.stringify(r.failures) : ''}`);
    }
    await poller;
  } finally {
    svc.proc.kill('SIGTERM');
    await new Promise((r) => svc.proc.on('exit', r));
  }
  for (const r of rows) r.during = begun !== null && r.from < (ended ?? Infinity) && r.to > begun;
  return {
    rows,
    endedAt: ended,
    seconds: begun !== null && ended !== null ? (ended - begun) / 1000 : null,
    pruned: last?.pruned ?? {},
    total: last?.total ?? 0,
    failed: last?.failed ?? 0,
  };
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of every statement that three starts, two right checks and a wrong one make, and the
 * background work meanwhile (dispatch, chaining, folding), as PostgreSQL ran them: auto_explain on for the
 * database, a second service (new connections take the settings) serving them one at a time, the plans read
 * back from the server log. Returns them as markdown, one block per distinct statement (its last run).
 */
async function explainHotPaths(url, serviceEnv, headers, provider) {
  const name = new URL(url).pathname.slice(1);
  const admin = new Client({ connectionString: url });
  await admin.connect();
  const settings = {
    session_preload_libraries: 'auto_explain',
    'auto_explain.log_min_duration': '0',
    'auto_explain.log_analyze': 'on',
    'auto_explain.log_buffers': 'on',
    'auto_explain.log_nested_statements': 'on',
  };
  for (const [k, v] of Object.entries(settings)) await admin.query(`ALTER DATABASE ${name} SET ${k} = '${v}'`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const svc = child('dist/src/main.js', { ...serviceEnv(url, port), WORKERS: '1' });
  let from;
  try {
    await waitReady(`${base}/health/ready`);
    await sleep(1000);
    from = statSync(EXPLAIN_LOG).size; // after start-up's own statements
    const t = target('explain', base, headers, provider);
    const ag = agent(1);
    for (let i = 0; i < 3; i++) {
      const phone = nextPhone();
      const r = t.startReq(phone);
      const started = await post(ag, base, r.path, { ...headers, ...r.headers }, r.body);
      if (started.status !== 201) throw new Error(`explain: start answered ${started.status} ${started.body}`);
      const { code } = await provider.codeFor(phone);
      const wrong = code === '000000' ? '111111' : '000000';
      const c = t.checkReq(JSON.parse(started.body).id, i === 2 ? wrong : code);
      await post(ag, base, c.path, headers, c.body);
    }
    ag.destroy();
    await sleep(2500); // the background loops' next ticks
  } finally {
    svc.proc.kill('SIGTERM');
    await new Promise((r) => svc.proc.on('exit', r));
    await admin.query(`ALTER DATABASE ${name} RESET ALL`);
    await admin.end();
  }
  const size = statSync(EXPLAIN_LOG).size - from;
  const buf = Buffer.alloc(size);
  const fd = openSync(EXPLAIN_LOG, 'r');
  readSync(fd, buf, 0, size, from);
  closeSync(fd);
  // one entry per log line that starts with a timestamp; auto_explain's are "duration: … ms  plan:" with the query
  // text and the plan on the lines after it
  const plans = new Map();
  for (const entry of buf.toString('utf8').split(/\n(?=\d{4}-\d\d-\d\d )/)) {
    const at = entry.indexOf('plan:');
    if (at < 0 || !entry.includes('Query Text:')) continue;
    const body = entry.slice(at + 'plan:'.length).replace(/^\n/, '').replace(/\s+$/, '');
    const query = /Query Text: ([^]*?)\n[^\n]*\(cost=/.exec(body); // the text runs to the plan's first node
    const k = (query ? query[1] : body).replace(/\s+/g, ' ').slice(0, 300);
    plans.set(k, { body, runs: (plans.get(k)?.runs ?? 0) + 1 });
  }
  const out = [`EXPLAIN (ANALYZE, BUFFERS) through auto_explain, ${plans.size} distinct statements on ${name} (each one's last run; runs counted):`];
  for (const { body, runs } of plans.values()) out.push('', `${runs} run(s):`, '```', body.replace(/^\t/gm, ''), '```');
  return out.join('\n');
}

async function main() {
  if ((SEEDED_DB || EXPLAIN_LOG) && !process.env.BENCH_DATABASE_URL) throw new Error('BENCH_SEEDED_DATABASE and BENCH_EXPLAIN need BENCH_DATABASE_URL');
  const db = await database();
  walReader = new Client({ connectionString: db.url });
  await walReader.connect();
  const stamp = Date.now().toString(36);
  const svcUrl = SEEDED_DB ? databaseUrl(db.url, SEEDED_DB) : await createDatabase(db.url, `bench_svc_${stamp}`);
  const floorUrl = await createDatabase(db.url, `bench_floor_${stamp}`);
  const provider = fakeProvider();
  const smsUrl = await provider.listen();

  // the client (the CLI also applies the migrations); the floor's database gets the same schema
  const cliEnv = { DATABASE_URL: svcUrl, NODE_ENV: 'production', OTP_HMAC_KEYS: HMAC_KEYS, AUDIT_PHONE_HASH_KEY: PHONE_KEY };
  const createClient = (root, url) => {
    const created = execFileSync(process.execPath, ['dist/src/cli.js', 'clients:create', '--name', 'bench', '--scopes', 'verifications:write,verifications:check'], {
      cwd: root,
      env: { PATH: process.env.PATH, ...cliEnv, DATABASE_URL: url },
    }).toString();
    return /otp_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}/.exec(created)[0];
  };
  const cli = (args, url) => execFileSync(process.execPath, ['dist/src/cli.js', ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...cliEnv, DATABASE_URL: url } }).toString();
  const keyIn = (text) => /otp_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}/.exec(text)[0];
  // a kept, seeded database: another key for its bench client (keys are shown only when issued)
  const seededClient = async () => {
    const c = new Client({ connectionString: svcUrl });
    await c.connect();
    const { rows } = await c.query(`SELECT id FROM api_clients WHERE name = 'bench' ORDER BY created_at LIMIT 1`);
    await c.end();
    if (!rows.length) throw new Error(`${SEEDED_DB} has no bench client: is it a database a BENCH_SEED run kept?`);
    return rows[0].id;
  };
  const key = SEEDED_DB ? keyIn(cli(['keys:create', '--client', await seededClient()], svcUrl)) : createClient(ROOT, svcUrl);
  const seeded = SEED > 0 || SEEDED_DB !== null;
  const emptyUrl = seeded ? await createDatabase(db.url, `bench_empty_${stamp}`) : null;
  const emptyKey = seeded ? createClient(ROOT, emptyUrl) : null;
  const baseUrl = BASELINE ? await createDatabase(db.url, `bench_base_${stamp}`) : null;
  const baseKey = BASELINE ? createClient(BASELINE, baseUrl) : null;
  const nestUrl = NEST_FLOOR ? await createDatabase(db.url, `bench_nest_${stamp}`) : null;
  for (const url of [floorUrl, ...(nestUrl ? [nestUrl] : [])]) {
    execFileSync(process.execPath, ['dist/src/cli.js', 'clients:list'], { cwd: ROOT, env: { PATH: process.env.PATH, ...cliEnv, DATABASE_URL: url } });
  }
  const dbUrls = [svcUrl, floorUrl, ...[baseUrl, nestUrl, emptyUrl].filter(Boolean)];
  for (const url of dbUrls) {
    const c = new Client({ connectionString: url });
    await c.connect();
    await c.query(`INSERT INTO api_clients (id, name, scopes, webhook_secret, created_at) VALUES ($1, 'floor', '{}', 'x', now()) ON CONFLICT DO NOTHING`, [FLOOR_CLIENT_ID]);
    await c.query(`UPDATE api_clients SET max_check_attempts = 20`);
    await c.end();
  }
  let seedReport = null;
  if (SEED > 0 && !SEEDED_DB) {
    const { seed } = require('./seed');
    const c = new Client({ connectionString: svcUrl });
    await c.connect();
    const svcClient = (await c.query(`SELECT id FROM api_clients WHERE name = 'bench'`)).rows[0];
    await c.end();
    const t0 = performance.now();
    const r = await seed({ url: svcUrl, count: SEED, clientId: svcClient.id, log });
    seedReport = { seconds: (performance.now() - t0) / 1000, ...r };
    log(`seeded ${SEED} verifications into the service's database in ${seedReport.seconds.toFixed(0)} s`);
  }

  const serviceEnv = (url, port) => ({
      NODE_ENV: 'production',
      OTP_HMAC_KEYS: HMAC_KEYS,
      AUDIT_PHONE_HASH_KEY: PHONE_KEY,
      DATABASE_URL: url,
      DATABASE_POOL_SIZE: '10',
      PORT: String(port),
      HOST: '127.0.0.1',
      SMS_PROVIDER: PROVIDER,
      SMS_HTTP_URL: smsUrl,
      PROVIDER_HTTP_TOKEN: PROVIDER_TOKEN,
      ...(PROVIDER === 'twilio'
        ? {
            TWILIO_ACCOUNT_SID: TWILIO_SID,
            TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
            TWILIO_FROM_NUMBER: '+81312345678',
            TWILIO_API_BASE_URL: new URL(smsUrl).origin,
            // status callbacks are named in each request; the fake sends none
            PUBLIC_CALLBACK_BASE_URL: 'https://otp.bench.invalid',
          }
        : {}),
      // production refuses the console provider; the bench sends no voice messages
      VOICE_PROVIDER: 'http',
      VOICE_HTTP_URL: smsUrl,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL || 'warn',
      // a pass starting in the middle of a row would weigh on that row alone: measured on its own (housekeepingPass)
      HOUSEKEEPING_ENABLED: 'false',
      // Nor does the expiry sweeper run: the verifications a start row leaves (2,000–3,000, never checked) and those
      // a check row's fill leaves over come due 5 minutes later within seconds of each other, in the middle of some
      // later row, which would measure the bench's row order rather than the service's requests; the floor expires
      // nothing either. What expiring costs is measured on its own (docs/scaling.md, "Ten times a large bank's peak").
      EXPIRY_SWEEP_INTERVAL_MS: '3600000',
      ...SERVICE_BENCH_LIMITS,
      WORKERS,
  });
  const port = await freePort();
  const svc = child('dist/src/main.js', serviceEnv(svcUrl, port), process.env.BENCH_CPU_PROF ? ['--cpu-prof'] : []);
  const basePort = BASELINE ? await freePort() : null;
  const baseSvc = BASELINE ? child('dist/src/main.js', { ...serviceEnv(baseUrl, basePort), WORKERS: BASELINE_WORKERS }, [], BASELINE) : null;
  const emptyPort = seeded ? await freePort() : null;
  const emptySvc = seeded ? child('dist/src/main.js', serviceEnv(emptyUrl, emptyPort)) : null;
  const floorEnv = (url, port) => ({
    FLOOR_DATABASE_URL: url,
    FLOOR_PORT: String(port),
    FLOOR_CLIENT_ID,
    FLOOR_POOL_SIZE: '10',
    FLOOR_SMS_URL: smsUrl,
    FLOOR_PROVIDER_TOKEN: PROVIDER_TOKEN,
    FLOOR_HMAC_KEYS: HMAC_KEYS,
    FLOOR_PHONE_KEY: PHONE_KEY,
  });
  const floorPort = await freePort();
  const floor = child('bench/floor.js', floorEnv(floorUrl, floorPort), process.env.BENCH_CPU_PROF ? ['--cpu-prof'] : []);
  const nestPort = NEST_FLOOR ? await freePort() : null;
  const nestFloor = NEST_FLOOR ? child('dist/bench/nest-floor/main.js', floorEnv(nestUrl, nestPort)) : null;
  const base = `http://127.0.0.1:${port}`;
  const floorBase = `http://127.0.0.1:${floorPort}`;
  await waitReady(`${base}/health/ready`);
  if (BASELINE) await waitReady(`http://127.0.0.1:${basePort}/health/ready`);
  if (seeded) await waitReady(`http://127.0.0.1:${emptyPort}/health/ready`);
  // Ready answers once the first worker listens: wait for all of them (each logs its own "listening on").
  const workerCount = (w) => (w === 'auto' ? os.availableParallelism() : Number(w));
  for (const [s, w] of [[svc, WORKERS], [baseSvc, BASELINE_WORKERS], [emptySvc, WORKERS]].filter(([s]) => s)) {
    for (let i = 0; i < 600 && (s.output().match(/listening on/g) ?? []).length < workerCount(w); i++) await sleep(100);
  }
  for (const [name, f] of [['floor', floor], ...(nestFloor ? [['Nest floor', nestFloor]] : [])]) {
    await new Promise((resolve, reject) => {
      f.proc.once('message', resolve);
      f.proc.once('exit', () => reject(new Error(`${name} exited: ${f.output()}`)));
    });
  }
  const S = target('svc', base, { authorization: `Bearer ${key}` }, provider);
  const F = target('floor', floorBase, {}, provider);
  const B = BASELINE ? target('before', `http://127.0.0.1:${basePort}`, { authorization: `Bearer ${baseKey}` }, provider) : null;
  const N = NEST_FLOOR ? target('nest', `http://127.0.0.1:${nestPort}`, {}, provider) : null;
  const E = seeded ? target('empty', `http://127.0.0.1:${emptyPort}`, { authorization: `Bearer ${emptyKey}` }, provider) : null;
  const all = [S, F, B, N, E].filter(Boolean);

  // warm-up: long enough for V8 to compile the hot paths (a fresh service's first 10-s start row ran about a quarter
  // slower than its second when this was 3 s)
  for (const t of all) await t.starts('warm', WARMUP);

  const workloads = ['start', 'check (right code)', 'check (wrong code)', 'full flow (start → code at provider → check)'];
  const results = Object.fromEntries(workloads.map((w) => [w, Object.fromEntries(all.map((t) => [t.name, []]))]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const w of workloads) {
      // the targets in turn, each repetition starting one further along (drift hits them all alike)
      const order = all.map((_, i) => all[(i + rep) % all.length]);
      for (const t of order) {
        const prev = results['check (right code)'][t.name];
        const expectCheck = prev.length ? Math.max(...prev.map((r) => r.rps)) : 3 * Math.max(...results.start[t.name].map((r) => r.rps));
        const r = await row(t, w, provider, expectCheck);
        results[w][t.name].push(r);
        log(`rep ${rep + 1} ${t.name} ${w}: ${fmt(r.rps, 0)}/s over ${fmt(r.seconds, 2)} s (${r.count} answers, ${r.errors} errors${r.errors ? ' ' + JSON.stringify(r.failures) : ''}${r.exhausted ? ', ran out of prepared verifications' : ''}) p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} host CPU stolen ${stolen(r)}`);
      }
    }
  }

  // open loop at a fixed fraction of the floor's capacity
  const startRate = OPEN_FRACTION * median(results.start.floor.map((r) => r.rps));
  const checkRate = OPEN_FRACTION * median(results['check (right code)'].floor.map((r) => r.rps));
  // BENCH_REPS repetitions as for the closed loop: one 10-s sample's p99 rests on its 20–40 slowest requests, and
  // two runs' single samples have differed by a factor of three
  const open = Object.fromEntries(all.map((t) => [t.name, { start: [], check: [] }]));
  const childOf = { svc, floor, before: baseSvc, nest: nestFloor, empty: emptySvc };
  // with BENCH_STALLS=1: this process's own pauses and the host's steal spells
  const benchWatch = STALLS ? watchBenchProcess() : null;
  for (let rep = 0; rep < REPS; rep++) {
    for (const t of all.map((_, i) => all[(i + rep) % all.length])) {
      const rows = [await openStart(t, provider, startRate), await openCheck(t, checkRate)];
      open[t.name].start.push(rows[0]);
      open[t.name].check.push(rows[1]);
      for (const r of rows) {
        log(`open rep ${rep + 1} ${t.name} ${r.name}: offered ${fmt(r.offered, 0)}/s achieved ${fmt(r.rps, 0)}/s p50 ${fmt(r.p50)} p99 ${fmt(r.p99)} sent > 5 ms late ${r.lateSends} (max ${fmt(r.maxLate)}) host CPU stolen ${stolen(r)} errors ${r.errors}${r.errors ? ' ' + JSON.stringify(r.failures) : ''}`);
        if (STALLS && r.requests.length) {
          const pauses = [...childOf[t.name].pauses().map((p) => ({ ...p, what: `${t.name} ${p.what}` })), ...benchWatch.pauses()];
          process.stderr.write(`${stallReport(r.requests, pauses)}\n`);
        }
        delete r.requests; // not kept: the bench's heap is in what it measures
      }
    }
  }

  // with workers: the primary and every worker, summed
  const rssOf = (c) => [c.proc.pid, ...childPids(c.proc.pid)].reduce((sum, pid) => sum + rssMb(pid, 'VmHWM'), 0);
  const rss = {
    svc: rssOf(svc),
    floor: rssMb(floor.proc.pid, 'VmHWM'),
    before: baseSvc ? rssOf(baseSvc) : NaN,
    nest: nestFloor ? rssMb(nestFloor.proc.pid, 'VmHWM') : NaN,
    empty: emptySvc ? rssOf(emptySvc) : NaN,
  };
  const plans = EXPLAIN_LOG ? await explainHotPaths(svcUrl, serviceEnv, { authorization: `Bearer ${key}` }, provider) : null;
  const procs = [svc, floor, baseSvc, nestFloor, emptySvc].filter(Boolean);
  for (const c of procs) c.proc.kill('SIGTERM');
  await Promise.all(procs.map((c) => new Promise((r) => c.proc.on('exit', r))));
  benchWatch?.stop();
  // alone on the machine (with PostgreSQL and the load generator), at half the service's own closed-loop start rate
  const passRate = 0.5 * median(results.start.svc.map((r) => r.rps));
  const pass = seeded
    ? await housekeepingPass(svcUrl, serviceEnv, { authorization: `Bearer ${key}` }, provider, passRate).catch((err) => {
        log(`housekeeping pass: ${err.stack || err}`); // the tables above still print
        return null;
      })
    : null;
  await provider.close();
  if (process.env.BENCH_DATABASE_URL && !process.env.BENCH_KEEP) {
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    for (const url of dbUrls) if (url !== svcUrl || !SEEDED_DB) await admin.query(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
    await admin.end();
  }
  if (process.env.BENCH_KEEP) log(`kept the databases ${dbUrls.map((u) => new URL(u).pathname.slice(1)).join(', ')}`);
  await walReader.end();
  await db.stop();
  if (STALL_DIR) rmSync(STALL_DIR, { recursive: true, force: true });

  const spread = (rs, f, d = 0) => {
    const xs = rs.map(f).sort((a, b) => a - b);
    return `${fmt(xs[0], d)} / **${fmt(median(xs), d)}** / ${fmt(xs[xs.length - 1], d)}`;
  };
  /** a's rate over b's: of their medians, then per repetition. */
  const ratio = (a, b) => `${fmt(median(a.map((r) => r.rps)) / median(b.map((r) => r.rps)), 2)} (${a.map((r, i) => (r.rps / b[i].rps).toFixed(2)).join(', ')})`;
  const lines = [];
  const damon = damonState();
  lines.push(
    `Benchmark: ${CONNECTIONS} connections, rows of ≥ ${SECONDS} s timed first request sent → last answer received, ${REPS} repetitions (min / **median** / max), ` +
      `${os.cpus().length} cores (${os.cpus()[0].model}), load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, Node ${process.version}${NODE_ARGS.length ? ` (targets also run with ${NODE_ARGS.join(' ')})` : ''}, ` +
      `service LOG_LEVEL=${process.env.BENCH_LOG_LEVEL || 'warn'}, pool 10 each${SEED ? `, ${SEED.toLocaleString('en-US')} verifications seeded first` : ''}` +
      `${damon ? `; the kernel's ${damon} (its passes take a CPU: docs/performance-log.md, "The host's own rhythm")` : ''}.`,
  );
  lines.push('');
  lines.push('| workload | service req/s | p50 ms | p99 ms | errors | floor req/s | floor p50 ms | floor p99 ms | service/floor (of medians; per rep) |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const w of workloads) {
    const s = results[w].svc;
    const f = results[w].floor;
    const errs = (rs) => `${rs.reduce((a, r) => a + r.errors, 0)}/${rs.reduce((a, r) => a + r.count, 0)}`;
    lines.push(
      `| ${w} | ${spread(s, (r) => r.rps)} | ${fmt(median(s.map((r) => r.p50)))} | ${fmt(median(s.map((r) => r.p99)))} (max ${fmt(Math.max(...s.map((r) => r.p99)))}) | ${errs(s)} | ` +
        `${spread(f, (r) => r.rps)} | ${fmt(median(f.map((r) => r.p50)))} | ${fmt(median(f.map((r) => r.p99)))} | ` +
        `${ratio(s, f)} |`,
    );
  }
  lines.push('');
  lines.push(
    `Open loop at ${OPEN_FRACTION} of the floor's median capacity, ${REPS} repetitions of ${SECONDS} s, latency from each request's scheduled time ` +
      `(achieved and p50: median of the repetitions; p99: min / **median** / max):`,
  );
  lines.push('');
  // The offered rate is a fraction of the floor's capacity: for the service it is that fraction over its own ratio to the
  // floor (at 0.57 of the floor, half the floor's rate is 88 % of the service's capacity, where queueing sets its p99).
  const svcCapacity = { start: median(results.start.svc.map((r) => r.rps)), check: median(results['check (right code)'].svc.map((r) => r.rps)) };
  lines.push('| workload | offered req/s | of the service\'s closed-loop capacity | service achieved | p50 ms | p99 ms | errors | floor achieved | floor p50 ms | floor p99 ms |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const med = (rs, f) => median(rs.map(f));
  const sum = (rs, f) => rs.reduce((n, r) => n + f(r), 0);
  for (const k of ['start', 'check']) {
    const s = open.svc[k];
    const f = open.floor[k];
    lines.push(
      `| ${s[0].name} | ${fmt(s[0].offered, 0)} | ${fmt((100 * s[0].offered) / svcCapacity[k], 0)} % | ${fmt(med(s, (r) => r.rps), 0)} | ${fmt(med(s, (r) => r.p50))} | ` +
        `${spread(s, (r) => r.p99, 1)} | ${sum(s, (r) => r.errors)}/${sum(s, (r) => r.count)} | ${fmt(med(f, (r) => r.rps), 0)} | ${fmt(med(f, (r) => r.p50))} | ${spread(f, (r) => r.p99, 1)} |`,
    );
  }
  const st = open.svc.start;
  const ft = open.floor.start;
  lines.push(
    `| start request → message at the provider | ${fmt(st[0].offered, 0)} | | | ${fmt(med(st, (r) => r.ttpP50))} | ${spread(st, (r) => r.ttpP99, 1)} | ${sum(st, (r) => r.ttpLost)} not received | | ` +
      `${fmt(med(ft, (r) => r.ttpP50))} | ${spread(ft, (r) => r.ttpP99, 1)} |`,
  );
  // The generator runs in this process beside the fake provider: a send it makes late is charged to the target, so
  // how late it was shows how much of a p99 could be the generator's own stalls rather than the target's.
  const late = Object.values(open).flatMap((rows) => Object.values(rows).flat());
  lines.push('');
  lines.push(
    `The generator itself sent ${late.reduce((n, r) => n + r.lateSends, 0)} of ${late.reduce((n, r) => n + r.count, 0)} open-loop requests more than 5 ms after their scheduled time ` +
      `(at most ${fmt(Math.max(...late.map((r) => r.maxLate)))} ms late); latency counts from the scheduled time, so that lateness is in the figures above.`,
  );
  // A virtual machine's CPU can be taken by the hypervisor for other guests ("steal"): each row's share, so that a
  // repetition whose tail came with the host's steal can be told from one that did not.
  const perRep = (rs) => rs.map((r) => `${fmt(r.p99)} (${stolen(r)})`).join(', ');
  lines.push('');
  lines.push(
    `Host CPU stolen by the hypervisor while each row ran (the whole machine's share). Closed loop, each repetition's service/floor ratio ` +
      `(service's steal / floor's): ` +
      workloads
        .map((w) => `${w}: ${results[w].svc.map((r, i) => `${fmt(r.rps / results[w].floor[i].rps, 2)} (${stolen(r)} / ${stolen(results[w].floor[i])})`).join(', ')}`)
        .join('; ') +
      `. Open loop, each repetition's p99 ms (steal): service starts ${perRep(open.svc.start)}, floor starts ${perRep(open.floor.start)}; ` +
      `service checks ${perRep(open.svc.check)}, floor checks ${perRep(open.floor.check)}.`,
  );
  lines.push('');
  // what the database writes per answer: for sizing the WAL volume, the standby's replication link and the archive
  lines.push('');
  lines.push(
    'WAL written per answer in the closed-loop rows, KB (min / **median** / max of the repetitions; full flow: per verification, its start, send and ' +
      'right check; the whole cluster\'s WAL while the row ran, full-page images after a checkpoint included):',
  );
  lines.push('');
  lines.push('| workload | service | floor |');
  lines.push('|---|---:|---:|');
  const walKb = (r) => r.walBytes / r.count / 1024;
  for (const w of workloads) lines.push(`| ${w} | ${spread(results[w].svc, walKb, 2)} | ${spread(results[w].floor, walKb, 2)} |`);
  lines.push('');
  lines.push(`Service SMS provider: ${PROVIDER === 'twilio' ? 'twilio (official SDK → Twilio-shaped fake)' : 'http (generic JSON)'}; the floor sends plain JSON. Service WORKERS=${WORKERS}. Peak RSS (VmHWM): service ${fmt(rss.svc, 0)} MB, floor ${fmt(rss.floor, 0)} MB.`);
  if (seedReport) lines.push(`Seeding the service's database: ${SEED.toLocaleString('en-US')} verifications in ${fmt(seedReport.seconds, 0)} s (${seedReport.detail}).`);
  lines.push('(p50/p99: median over the repetitions of each repetition\'s own percentile. The full-flow rows are timed per flow: start, wait for the code at the fake provider, check.)');
  /** Two targets of this run side by side (x the reference, y compared with it), closed and open loop. */
  const pairTable = (caption, x, xLabel, y, yLabel) => {
    lines.push('', caption, '');
    lines.push(`| workload | ${xLabel} req/s | ${xLabel} p50 ms | ${xLabel} p99 ms | ${yLabel} req/s | ${yLabel} p50 ms | ${yLabel} p99 ms | ${yLabel}/${xLabel} (of medians; per rep) |`);
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const w of workloads) {
      const a = results[w][y];
      const b = results[w][x];
      lines.push(
        `| ${w} | ${spread(b, (r) => r.rps)} | ${fmt(median(b.map((r) => r.p50)))} | ${fmt(median(b.map((r) => r.p99)))} | ${spread(a, (r) => r.rps)} | ${fmt(median(a.map((r) => r.p50)))} | ${fmt(median(a.map((r) => r.p99)))} | ` +
          `${ratio(a, b)} |`,
      );
    }
    for (const k of ['start', 'check']) {
      const [p, q] = [open[x][k], open[y][k]];
      lines.push(
        `| open loop ${k} at ${fmt(p[0].offered, 0)}/s | ${fmt(med(p, (r) => r.rps), 0)} | ${fmt(med(p, (r) => r.p50))} | ${spread(p, (r) => r.p99, 1)} | ` +
          `${fmt(med(q, (r) => r.rps), 0)} | ${fmt(med(q, (r) => r.p50))} | ${spread(q, (r) => r.p99, 1)} | |`,
      );
    }
  };
  if (B) {
    // with a seeded service, 'after' is this build on an empty database, as 'before' is
    const after = E ? 'empty' : 'svc';
    pairTable(
      `Before (BENCH_BASELINE=${BASELINE}, ${gitHead(BASELINE)}, WORKERS=${BASELINE_WORKERS}) and after (this checkout, ${gitHead(ROOT)}, WORKERS=${WORKERS}${E ? ', the service on the empty database' : ''}), the same run, rows interleaved; ` +
        `peak RSS before ${fmt(rss.before, 0)} MB, after ${fmt(rss[after], 0)} MB:`,
      'before', 'before', after, 'after',
    );
  }
  if (E) {
    pairTable(
      `The service on an empty database and on the seeded one (${SEEDED_DB ? `${SEEDED_DB}, kept from an earlier run` : `${SEED.toLocaleString('en-US')} verifications seeded`}), ` +
        `the same build, the same run, rows interleaved; peak RSS empty ${fmt(rss.empty, 0)} MB, seeded ${fmt(rss.svc, 0)} MB:`,
      'empty', 'empty', 'svc', 'seeded',
    );
  }
  if (N) {
    lines.push('');
    lines.push(
      `Floor (node:http + pg), Nest floor (the same work behind a minimal NestJS app: platform-fastify, ValidationPipe, class-validator DTOs) and service, the same run, rows interleaved; ` +
        `peak RSS floor ${fmt(rss.floor, 0)} MB, Nest floor ${fmt(rss.nest, 0)} MB, service ${fmt(rss.svc, 0)} MB:`,
    );
    lines.push('');
    lines.push('| workload | floor req/s | nest floor req/s | service req/s | nest floor/floor (of medians; per rep) | service/nest floor (of medians; per rep) |');
    lines.push('|---|---:|---:|---:|---:|---:|');
    for (const w of workloads) {
      const f = results[w].floor;
      const n = results[w].nest;
      const s = results[w].svc;
      lines.push(`| ${w} | ${spread(f, (r) => r.rps)} | ${spread(n, (r) => r.rps)} | ${spread(s, (r) => r.rps)} | ${ratio(n, f)} | ${ratio(s, n)} |`);
    }
    // open loop: achieved rate and p50 (medians), p99 (min / median / max) ms from the scheduled send
    for (const k of ['start', 'check']) {
      const [f, n, s] = [open.floor[k], open.nest[k], open.svc[k]];
      const cell = (x) => `${fmt(med(x, (r) => r.rps), 0)} (p50 ${fmt(med(x, (r) => r.p50))} / p99 ${spread(x, (r) => r.p99, 1)} ms)`;
      lines.push(`| open loop ${k} at ${fmt(f[0].offered, 0)}/s | ${cell(f)} | ${cell(n)} | ${cell(s)} | | |`);
    }
  }
  if (pass) {
    const { pruned, total, seconds, failed, endedAt } = pass;
    lines.push(
      '',
      `Housekeeping on the seeded database (the rows above ran with it off): one service with it on, alone (the targets above stopped), its first pass ${HOUSEKEEPING_FIRST_S} s after start (after ${WARMUP} s of closed-loop starts to warm it up), ` +
        `open-loop starts offered at ${fmt(passRate, 0)}/s (half the service's closed-loop start rate) meanwhile, in rows of ${SECONDS} s. ` +
        (endedAt === null
          ? `The pass did not end within BENCH_HOUSEKEEPING_MAX_SECONDS=${HOUSEKEEPING_MAX_S} (${fmt(total, 0)} rows pruned by then).`
          : !total
          ? 'The pass found nothing to prune (a database an earlier pass already pruned?).'
          : `The pass${failed ? ' FAILED after it' : ''} pruned ${fmt(total, 0)} rows in ${fmt(seconds, 1)} s (${fmt(total / seconds, 0)} rows/s; ±0.5 s, read from /metrics): ` +
            Object.entries(pruned).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${fmt(n, 0)}`).join(', ') + '.'),
      '',
      '| row | while the pass ran | achieved req/s | p50 ms | p99 ms | errors | start → provider p99 ms |',
      '|---:|---|---:|---:|---:|---:|---:|',
      ...pass.rows.map((r, i) => `| ${i + 1} | ${r.during ? 'yes' : 'no'} | ${fmt(r.rps, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.errors}/${r.count} | ${fmt(r.ttpP99)} |`),
    );
  }
  if (plans) lines.push('', plans);
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
