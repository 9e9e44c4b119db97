// One target alone at a fixed rate: `BENCH_DATABASE_URL=… node bench/alone.js` (after `npm run build`).
// The service (BENCH_TARGET=service, the default), the floor (BENCH_TARGET=floor) or the Nest floor (BENCH_TARGET=nest;
// built to dist/bench by `npm run bench` or `npx tsc -p bench/tsconfig.json`), in a database of its own, nothing else
// running: BENCH_WARMUP_SECONDS (10) of closed-loop starts at 50 connections, then BENCH_REPS (3) repetitions of
// starts offered at BENCH_RATE (100) per second for BENCH_SECONDS (15) each. Per repetition it prints:
// - achieved rate, p50 and p99 from each request's scheduled time (bench/load.js openLoop);
// - the target's CPU time per start (utime + stime of its process from /proc, over the repetition): a figure that
//   moves far less between runs than throughput on a shared machine, so an A/B of one change can be read from it;
//   and beside it PostgreSQL's (all its processes on this host: the target's backends, and the WAL writer's and
//   checkpointer's share of their writes; processes that ended meanwhile too, autovacuum workers among them:
//   bench/proc-cpu.js);
// - the share of the host's CPU time the hypervisor stole over the repetition (bench/host-steal.js);
// - the slowest requests with when they were sent (seconds into the repetition): stalls show as clusters.
// BENCH_IDLE_SECONDS (3): the idle spell between the warm-up and the first repetition (60 or more shows what the first
// seconds after a lull cost; V8's memory reducer, which `npm start` turns off, deoptimized the code of an idle process).
// The target runs with the node flags `npm start` launches the service with, then BENCH_NODE_ARGS (e.g.
// "--max-semi-space-size=32"). BENCH_ENV: JSON of extra environment variables for the service (e.g.
// '{"HEAP_GROWTH_PERCENT":"0"}'). BENCH_WORKLOAD=check: the repetitions offer checks with the right code instead of starts
// (before each, closed-loop starts make as many verifications as it will check; the codes are read at the fake provider).
// BENCH_STALLS=1: what the slowest requests met. The target runs with bench/stall-log.js (its GC pauses of 2 ms or more
// and its event-loop turns late by 10 ms or more; this process, the load generator and fake provider, watches its own
// the same way), bench/fsync-probe.js flushes 8 KiB every 10 ms in BENCH_FSYNC_DIR
// (default the system's temporary directory; put it on the file system of PostgreSQL's WAL), and the host's CPU is
// read every 100 ms for spells in which the hypervisor stole 20 % of it or more, and bench/cpu-probe.js watches each
// CPU (its stalls, and the kernel's kdamond threads). After each repetition: those pauses and slow flushes in it,
// and the p99 tail (the slowest 1 %) in bursts of requests sent close together, each with the pauses and flushes
// that overlapped it, and for each kind of pause how many bursts it overlapped against how many by chance.
// BENCH_INSTRUCTIONS=1: the target runs under valgrind's callgrind (bench/callgrind.js), and each repetition also
// prints the target's instructions per request, in all and without V8's compiling and garbage collection: a figure the
// host's speed and noise do not move. The target is 5-10 times slower so: offer 5-10 requests/s; V8 is still
// optimizing the checks' code in the first repetitions (they run a few hundred checks each), so run 6 or more and
// read the later ones. Latencies, CPU times and peak RSS are valgrind's then, not the target's. BENCH_INSTRUCTIONS_TOP=N also
// prints each repetition's N costliest functions (JavaScript ones by name and place, with the property lookups they
// made), in thousands of instructions per request.
// BENCH_COUNTER_DAY=1: the database starts with a day of risk counters for the units the starts read (JP and their
// prefixes), 8 shard rows per 10-minute bucket as starts write them, as a service a day into its traffic finds them.
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { existsSync, readFileSync, rmSync } = require('node:fs');
const os = require('node:os');
const http = require('node:http');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { setTimeout: sleep } = require('node:timers/promises');
const { Client } = require('pg');
const { closedLoop, openLoop, pct, freePort, launchFlags, benchPhone, FLOOR_CLIENT_ID, BENCH_NODE_ARGS, SERVICE_BENCH_LIMITS } = require('./load');
const { cpuTicks, stolenShare } = require('./host-steal');
const { readPauses, watchBenchProcess, stallReport } = require('./stall-report');
const { damonState } = require('./cpu-probe');
const { onJsonLines } = require('./stall-log');
const { counted } = require('./callgrind');
const { cpuMsOf, ownCpuMs: cpuMs } = require('./proc-cpu');

const ROOT = path.resolve(__dirname, '..');
const TARGET = process.env.BENCH_TARGET || 'service';
const RATE = Number(process.env.BENCH_RATE || 100);
const SECONDS = Number(process.env.BENCH_SECONDS || 15);
const REPS = Number(process.env.BENCH_REPS || 3);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS || 10);
const IDLE = Number(process.env.BENCH_IDLE_SECONDS || 3);
const WORKLOAD = process.env.BENCH_WORKLOAD || 'start';
const STALLS = process.env.BENCH_STALLS === '1';
const INSTRUCTIONS = process.env.BENCH_INSTRUCTIONS === '1';
const TOP_FUNCTIONS = Number(process.env.BENCH_INSTRUCTIONS_TOP || 0);
const HMAC_KEYS = 'k1:' + 'ab'.repeat(32);
const PHONE_KEY = 'cd'.repeat(32);
const TOKEN = 'bench-provider-token-0123456789';

// Spread over many prefixes (bench/load.js, benchPhone); with BENCH_COUNTER_DAY, consecutive numbers in the ten
// prefixes whose day of counters it seeds (their verified counts keep the pumping rules from tripping).
let phones = 0;
const COUNTER_DAY = process.env.BENCH_COUNTER_DAY === '1';
const nextPhone = () => (COUNTER_DAY ? `+81901${String(1000000 + phones++).padStart(7, '0')}` : benchPhone(phones++));
/** CPU time of every PostgreSQL process of this host (backends, WAL writer, checkpointer…), ended ones included, in ms. */
const databaseCpuMs = () => cpuMsOf('postgres');
/** The target process and, with BENCH_INSTRUCTIONS=1, its callgrind counter (also for the clean-up after a failure). */
let target;
/** A memory figure of the process from /proc, in MB: VmRSS (now) or VmHWM (peak). */
const memMb = (pid, field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function main() {
  if (!process.env.BENCH_DATABASE_URL) throw new Error('set BENCH_DATABASE_URL (a superuser URL)');
  if (!['service', 'floor', 'nest'].includes(TARGET)) throw new Error(`BENCH_TARGET=${TARGET}: service, floor or nest`);
  const floorScript = { floor: 'bench/floor.js', nest: 'dist/bench/nest-floor/main.js' }[TARGET];
  if (floorScript && !existsSync(path.join(ROOT, floorScript))) throw new Error(`${floorScript} is not built: run npx tsc -p bench/tsconfig.json`);
  if (INSTRUCTIONS) {
    try {
      execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('BENCH_INSTRUCTIONS=1 needs valgrind (Debian: apt-get install valgrind)');
    }
  }
  const admin = new URL(process.env.BENCH_DATABASE_URL);
  const name = `bench_alone_${Date.now().toString(36)}`;
  const run = async (url, sql, params) => {
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(sql, params);
    } finally {
      await c.end();
    }
  };
  await run(admin.toString(), `CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const env = { PATH: process.env.PATH, DATABASE_URL: url.toString(), NODE_ENV: 'production', OTP_HMAC_KEYS: HMAC_KEYS, AUDIT_PHONE_HASH_KEY: PHONE_KEY };
  const created = execFileSync(process.execPath, ['dist/src/cli.js', 'clients:create', '--name', 'bench', '--scopes', 'verifications:write,verifications:check'], { cwd: ROOT, env }).toString();
  const key = /otp_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}/.exec(created)[0];
  await run(url.toString(), `INSERT INTO api_clients (id, name, scopes, webhook_secret, created_at) VALUES ($1, 'floor', '{}', 'x', now())`, [FLOOR_CLIENT_ID]);
  if (COUNTER_DAY) {
    // a day of traffic's risk counters for the units every start here reads (JP and the prefixes of nextPhone's
    // numbers), as starts leave them: each 10-minute bucket spread over the 8 shard rows
    await run(
      url.toString(),
      `INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started, verified)
       SELECT k, u, to_timestamp(floor(extract(epoch FROM now()) / 600) * 600) - b * interval '10 min', sh, 40, CASE WHEN sh = 0 THEN 300 ELSE 0 END
         FROM (SELECT 'country', 'JP' UNION ALL SELECT 'prefix', '819011' || lpad(p::text, 2, '0') FROM generate_series(0, 9) p) AS x(k, u),
              generate_series(1, 144) b, generate_series(0, 7) sh;
       ANALYZE risk_unit_counts`,
    );
  }

  // the fake SMS provider (the generic http provider's contract)
  const codes = new Map(); // phone -> the code the provider received
  const provider = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (WORKLOAD === 'check') {
        const msg = JSON.parse(body);
        codes.set(msg.to, /(\d{6})/.exec(msg.text)[1]);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"fake"}');
    });
  });
  provider.keepAliveTimeout = 30_000;
  await new Promise((r) => provider.listen(0, '127.0.0.1', r));
  const smsUrl = `http://127.0.0.1:${provider.address().port}/sms`;
  const port = await freePort();
  const nodeArgs = [...launchFlags(ROOT), ...BENCH_NODE_ARGS];
  const stallFile = path.join(os.tmpdir(), `${name}-stalls.jsonl`);
  const flushes = [];
  let probe;
  // this process's own pauses (the load generator and fake provider), the host's steal spells and the CPU probes' records
  const benchWatch = STALLS ? watchBenchProcess() : null;
  if (STALLS) {
    nodeArgs.push('--require', path.join(ROOT, 'bench/stall-log.js'));
    probe = spawn(process.execPath, [path.join(ROOT, 'bench/fsync-probe.js')], { env: { PATH: process.env.PATH, FSYNC_PROBE_DIR: process.env.BENCH_FSYNC_DIR || os.tmpdir() }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    onJsonLines(probe.stdout, (p) => flushes.push(p));
  }
  let proc;
  let headers = {};
  const spawnTarget = (args, options) => {
    const counter = INSTRUCTIONS ? counted(args, options, name, { functions: TOP_FUNCTIONS }) : null;
    target = { proc: counter ? counter.proc : spawn(process.execPath, args, options), counter };
    return target.proc;
  };
  if (floorScript) {
    const floorEnv = { PATH: process.env.PATH, ...(STALLS ? { STALL_LOG_FILE: stallFile } : {}), FLOOR_DATABASE_URL: url.toString(), FLOOR_PORT: String(port), FLOOR_CLIENT_ID, FLOOR_POOL_SIZE: '10', FLOOR_SMS_URL: smsUrl, FLOOR_PROVIDER_TOKEN: TOKEN, FLOOR_HMAC_KEYS: HMAC_KEYS, FLOOR_PHONE_KEY: PHONE_KEY };
    proc = spawnTarget([...nodeArgs, floorScript], { cwd: ROOT, env: floorEnv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise((r) => proc.once('message', r));
  } else {
    const serviceEnv = {
      ...env, DATABASE_POOL_SIZE: '10', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', SMS_PROVIDER: 'http', SMS_HTTP_URL: smsUrl, PROVIDER_HTTP_TOKEN: TOKEN,
      VOICE_PROVIDER: 'http', VOICE_HTTP_URL: smsUrl, ...SERVICE_BENCH_LIMITS, WORKERS: '1',
      // as in `npm run bench`: no housekeeping pass, and no expiry sweep of the warm-up's verifications 5 minutes on
      // (a run under callgrind lasts longer than that), in the middle of a repetition
      HOUSEKEEPING_ENABLED: 'false', EXPIRY_SWEEP_INTERVAL_MS: '3600000', ...(STALLS ? { STALL_LOG_FILE: stallFile } : {}), ...JSON.parse(process.env.BENCH_ENV || '{}'),
    };
    proc = spawnTarget([...nodeArgs, 'dist/src/main.js'], { cwd: ROOT, env: serviceEnv, stdio: ['ignore', 'ignore', 'inherit'] });
    headers = { authorization: `Bearer ${key}` };
    for (let i = 0; i < (INSTRUCTIONS ? 3000 : 300); i++) {
      const up = await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false);
      if (up) break;
      await sleep(100);
    }
  }
  const base = `http://127.0.0.1:${port}`;
  let idem = 0;
  const startReq = () => ({ path: '/v1/verifications', headers: { 'idempotency-key': `k-${idem++}` }, body: { phoneNumber: nextPhone(), purpose: 'login' } });
  const started = []; // { id, phone } of the starts, for the check workload
  const startDone = (n, a, req) => {
    if (a.status !== 201) return false;
    started.push({ id: JSON.parse(a.body).id, phone: req.body.phoneNumber });
    return true;
  };
  const warm = await closedLoop({ name: 'warm', base, connections: 50, seconds: WARMUP, headers, next: startReq, done: startDone });
  process.stdout.write(`${TARGET}: warm-up ${warm.rps.toFixed(0)} starts/s (${warm.errors} errors); then ${IDLE} s idle and ${REPS} × ${SECONDS} s of ${WORKLOAD}s at ${RATE}/s\n`);
  const damon = damonState();
  if (damon) process.stdout.write(`the kernel's ${damon}: its passes take a CPU (docs/performance-log.md, "The host's own rhythm")\n`);
  /** The next repetition's requests: starts made as they are sent, or checks of verifications started beforehand. */
  const requests = async () => {
    if (WORKLOAD !== 'check') return startReq;
    const need = Math.ceil(RATE * SECONDS) + 1;
    started.length = 0;
    let made = 0;
    await closedLoop({ name: 'fill', base, connections: 50, seconds: 600, headers, next: () => (made++ < need ? startReq() : null), done: startDone });
    for (let i = 0; i < 100 && started.some((v) => !codes.has(v.phone)); i++) await sleep(50);
    const checks = started.map((v) => ({ path: `/v1/verifications/${v.id}/check`, body: { code: codes.get(v.phone) } }));
    codes.clear(); // this process's heap stays small: its GC pauses delay sends and answers as the target's do
    await sleep(IDLE * 1000);
    return (n) => checks[n];
  };
  await sleep(IDLE * 1000);
  if (IDLE >= 30) process.stdout.write(`RSS after the idle spell ${memMb(proc.pid, 'VmRSS').toFixed(0)} MB\n`);
  for (let rep = 1; rep <= REPS; rep++) {
    const sent = [];
    const slow = [];
    const next = await requests();
    const cpu0 = cpuMs(proc.pid);
    const db0 = databaseCpuMs();
    const host0 = cpuTicks();
    target.counter?.start();
    const began = new Date().toISOString().slice(11, 23); // time of day, to set a stall beside the server's log
    const r = await openLoop({
      name: WORKLOAD, base, rate: RATE, seconds: SECONDS, headers, next,
      onSent: (n, req, at) => (sent[n] = at),
      done: (n, a) => {
        slow.push([performance.now() - sent[n], (sent[n] - sent[0]) / 1000, performance.timeOrigin + sent[n]]);
        return WORKLOAD === 'check' ? a.status === 200 && JSON.parse(a.body).valid === true : a.status === 201;
      },
    });
    const ir = target.counter ? await target.counter.stop() : null;
    const per = (n) => (n / r.count / 1e6).toFixed(3);
    const instructions = ir ? `, ${per(ir.all)} M instructions per ${WORKLOAD} (compiling ${per(ir.compiling)}, GC ${per(ir.gc)}, the rest ${per(ir.all - ir.compiling - ir.gc)})` : '';
    const cpu = (cpuMs(proc.pid) - cpu0) / r.count;
    const dbCpu = (databaseCpuMs() - db0) / r.count;
    const stolen = stolenShare(host0, cpuTicks());
    slow.sort((a, b) => b[0] - a[0]);
    const lat = slow.map(([l]) => l).sort((a, b) => a - b);
    process.stdout.write(
      `rep ${rep} (from ${began}): achieved ${r.rps.toFixed(0)}/s, p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, errors ${r.errors}${instructions}, ` +
        `CPU ${cpu.toFixed(2)} ms per ${WORKLOAD} (PostgreSQL ${dbCpu.toFixed(2)}), host CPU stolen ${(100 * stolen).toFixed(0)} %; slowest (ms @ s sent): ${slow.slice(0, 8).map(([l, t]) => `${l.toFixed(0)}@${t.toFixed(2)}`).join(' ')}\n`,
    );
    for (const f of ir?.functions ?? []) process.stdout.write(`  ${(f.ir / r.count / 1e3).toFixed(1).padStart(7)} K  ${f.name}\n`);
    if (STALLS) {
      const pauses = [...readPauses(stallFile).map((p) => Object.assign({}, p, { what: `${TARGET} ${p.what}` })), ...benchWatch.pauses(), ...flushes];
      process.stdout.write(`${stallReport(slow.map(([l, , at]) => [l, at]), pauses)}\n`);
    }
    await sleep(2000);
  }
  process.stdout.write(`peak RSS ${memMb(proc.pid, 'VmHWM').toFixed(0)} MB\n`);
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  provider.close();
  probe?.kill('SIGTERM');
  benchWatch?.stop();
  rmSync(stallFile, { force: true });
  target.counter?.remove();
  await run(admin.toString(), `DROP DATABASE ${name} WITH (FORCE)`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  // the target (under valgrind it would go on using a CPU) and callgrind's files; its database stays, named above
  target?.proc.kill('SIGKILL');
  target?.counter?.remove();
  process.exit(1);
});
