import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAUNCH_FLAGS } from '../src/bootstrap';
import { createTestDatabase, TestDatabase } from './support/database';
import { FakeServer, startFakeServer } from './support/fake-http';
import { freePort } from './support/net';
import { freshPhone } from './support/phones';
import { expectEmbeddedStopped, MAIN, runBuilt, Spawned, stopSpawned, waitUntilReady } from './support/process';
import { codeSentTo } from './support/scenario';
import { sleep, waitFor } from './support/wait';

const KEY = 'workers-test-key-' + 'b'.repeat(30);

let requests = 0;

/**
 * One GET on a connection of its own (so the primary hands it to any worker), with a request id of its own: the
 * answer, and the process that served it, read from its `request completed` log line.
 */
async function served(run: Spawned, base: string, path: string): Promise<{ status: number; text: string; pid: number }> {
  const id = `workers-probe-${requests++}`;
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    get(`${base}${path}`, { agent: false, headers: { connection: 'close', 'x-request-id': id } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    }).on('error', reject);
  });
  const line = await waitFor(() => run.stdout().split('\n').find((l) => l.includes(`"id":"${id}"`) && l.includes('"msg":"request'))!, {
    what: `the log line of request ${id}`,
  });
  return { status, text, pid: (JSON.parse(line) as { pid: number }).pid };
}

const answeringPid = async (run: Spawned, base: string) => (await served(run, base, '/health/live')).pid;

/** The value of one sample in Prometheus text (undefined when absent). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The processes a scrape of /metrics describes (`otp_instance_info`), by worker number. */
const describedWorkers = (text: string) =>
  [...text.matchAll(/^otp_instance_info\{pid="(\d+)",worker="(\d+)"\} 1$/gm)].map((m) => ({ pid: Number(m[1]), worker: m[2] })).sort((a, b) => Number(a.worker) - Number(b.worker));

/** The parent process id of `pid` (Linux /proc). */
const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** WORKERS=2: the built program runs a node:cluster primary and two workers behind one port. */
describe('WORKERS=2 (node:cluster behind one port)', () => {
  let db: TestDatabase;
  let sms: FakeServer;
  let run: Spawned;
  let base: string;
  // made in beforeAll, which a `-t` filter matching none of these tests skips with afterAll
  let scratch: string | undefined;
  let primaryModules: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'otp-workers-'));
    primaryModules = join(scratch, 'primary-modules.json');
    db = await createTestDatabase();
    sms = await startFakeServer();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const probe = join(__dirname, 'support', 'primary-modules.js');
    run = runBuilt(MAIN, {
      PRIMARY_MODULES_FILE: primaryModules,
      WORKERS: '2',
      DATABASE_URL: db.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      DEV_API_KEY: KEY,
      SMS_PROVIDER: 'http',
      SMS_HTTP_URL: `${sms.url}/sms`,
      LOG_LEVEL: 'info',
    }, [], [...LAUNCH_FLAGS, '--require', probe]);
    await waitUntilReady(run, base, '/health/ready', 90_000);
  }, 120_000);
  afterAll(async () => {
    if (run && run.child.exitCode === null) {
      run.child.kill('SIGKILL');
      await run.exited;
    }
    await sms?.close();
    await db?.drop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  /** Scrapes until `n` distinct worker processes have answered. */
  async function workersAnswering(n: number, timeoutMs = 90_000): Promise<Set<number>> {
    const pids = new Set<number>();
    await waitFor(
      async () => {
        pids.add(await answeringPid(run, base));
        return pids.size >= n;
      },
      { timeoutMs, intervalMs: 50, ignoreErrors: true, what: () => `${n} distinct workers answering (saw ${[...pids].join(', ')})\n${run.stderr().slice(-2000)}` },
    );
    return pids;
  }

  it('two distinct worker processes, children of the primary, answer on the one port', async () => {
    const pids = await workersAnswering(2);
    expect(pids.size).toBe(2);
    for (const pid of pids) {
      expect(pid).not.toBe(run.child.pid);
      expect(parentOf(pid)).toBe(run.child.pid);
    }
    // migrations ran once, in the primary: the workers were told not to
    expect(run.stderr().match(/applied \d+ migration/g) ?? []).toHaveLength(1);
  }, 120_000);

  it('the primary runs no app: it loads the migrations and the metrics gathering, not NestJS, Fastify or the routes', async () => {
    await workersAnswering(2);
    // written by the preload each time a worker starts listening, so it holds what the primary loaded after its set-up
    const loaded = JSON.parse(readFileSync(primaryModules, 'utf8')) as string[];
    expect(loaded).toContain(MAIN);
    expect(loaded.some((f) => f.includes(join('dist', 'migrations')))).toBe(true);
    expect(loaded.some((f) => f.endsWith(join('dist', 'src', 'metrics', 'cluster-metrics.js')))).toBe(true);
    const appModules = loaded.filter((f) => /[\\/](app\.factory|app\.module)\.js$|node_modules[\\/](@nestjs|fastify|rxjs)[\\/]/.test(f));
    expect(appModules).toEqual([]);
  }, 120_000);

  it('a full verification flow works across the workers', async () => {
    for (let i = 0; i < 4; i++) {
      const phoneNumber = freshPhone();
      const started = await fetch(`${base}/v1/verifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ phoneNumber, purpose: 'login' }),
      });
      expect(started.status).toBe(201);
      const { id } = (await started.json()) as { id: string };
      const code = await codeSentTo(sms, phoneNumber);
      const checked = await fetch(`${base}/v1/verifications/${id}/check`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ code }),
      });
      expect(checked.status).toBe(200);
      expect(((await checked.json()) as { status: string }).status).toBe('approved');
    }
  }, 60_000);

  it('/metrics holds the series of every worker, labelled by worker, whichever worker takes the scrape', async () => {
    const live = (text: string, worker: string) => sample(text, `http_request_duration_seconds_count{method="GET",route="/health/live",status="200",worker="${worker}"}`) ?? 0;
    const before = await served(run, base, '/metrics');
    expect(before.status).toBe(200);
    const workerOf = new Map(describedWorkers(before.text).map((w) => [w.pid, w.worker]));
    expect(workerOf.size).toBe(2);

    // 20 requests on connections of their own: the primary hands them round-robin to both workers
    const answeredBy = new Map<number, number>();
    for (let i = 0; i < 20; i++) {
      const { status, pid } = await served(run, base, '/health/live');
      expect(status).toBe(200);
      answeredBy.set(pid, (answeredBy.get(pid) ?? 0) + 1);
    }
    expect([...answeredBy.keys()].sort()).toEqual([...workerOf.keys()].sort());

    // scrapes until both workers have taken one: each holds both workers' series, and each worker's own count
    const scrapedBy = new Set<number>();
    for (let i = 0; i < 20 && scrapedBy.size < 2; i++) {
      const { status, text, pid } = await served(run, base, '/metrics');
      expect(status).toBe(200);
      scrapedBy.add(pid);
      expect(describedWorkers(text)).toEqual(describedWorkers(before.text));
      for (const [workerPid, worker] of workerOf) expect(live(text, worker) - live(before.text, worker)).toBe(answeredBy.get(workerPid));
      for (const worker of workerOf.values()) {
        expect(sample(text, `otp_db_pool_size{worker="${worker}"}`)).toBe(10);
        expect(sample(text, `otp_audit_chain_lag_seconds{worker="${worker}"}`)).toBeGreaterThanOrEqual(0);
      }
      expect(sample(text, 'otp_metrics_workers{state="answered"}')).toBe(2);
      expect(sample(text, 'otp_metrics_workers{state="silent"}')).toBe(0);
      // one family per name, as Prometheus requires, and no series without its worker
      const families = text.match(/^# TYPE \S+/gm)!;
      expect(new Set(families).size).toBe(families.length);
      expect(text.split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('otp_metrics_workers') && !/worker="(\d+|primary)"/.test(l))).toEqual([]);
      // and the primary's own: its process, and no worker died so far
      expect(sample(text, `otp_instance_info{pid="${run.child.pid}",worker="primary"}`)).toBe(1);
      expect(sample(text, 'process_resident_memory_bytes{worker="primary"}')).toBeGreaterThan(10e6);
      expect(sample(text, 'otp_workers_died_total{worker="primary"}')).toBe(0);
    }
    expect(scrapedBy.size).toBe(2);

    // 30 scrapes at once all answer in full, sharing gatherings, and no worker piles up listeners
    const many = await Promise.all(Array.from({ length: 30 }, () => served(run, base, '/metrics')));
    expect(many.map((m) => [m.status, describedWorkers(m.text).length])).toEqual(many.map(() => [200, 2]));
    expect(run.stderr()).not.toMatch(/MaxListenersExceededWarning/);
  }, 60_000);

  it("a gauge's NaN (the database not read within 1 s) reaches the scrape as NaN from every worker, not as 0", async () => {
    await sleep(5100); // past the database gauges' 5-s reading period of the scrapes above
    // Nothing can read the chain head while this transaction holds it (the audit lag gauge reads it).
    await db.query('BEGIN');
    try {
      await db.query('LOCK TABLE audit_chain_head IN ACCESS EXCLUSIVE MODE');
      const { status, text } = await served(run, base, '/metrics');
      expect(status).toBe(200);
      const lag = text.split('\n').filter((l) => l.startsWith('otp_audit_chain_lag_seconds{'));
      expect(lag).toHaveLength(2);
      for (const line of lag) expect(line).toMatch(/^otp_audit_chain_lag_seconds\{worker="\d+"\} Nan$/);
    } finally {
      await db.query('ROLLBACK');
    }
  }, 30_000);

  it('a worker that does not answer for 5 s is left out of the scrape and counted silent; once it runs again it is back', async () => {
    const [stopped, running] = describedWorkers((await served(run, base, '/metrics')).text);
    process.kill(stopped.pid, 'SIGSTOP');
    try {
      // three connections in a row: round-robin hands at least one to the worker still running
      const started = Date.now();
      const scrapes = [0, 1, 2].map(() => served(run, base, '/metrics'));
      const first = await Promise.race(scrapes);
      expect(first.pid).toBe(running.pid);
      expect(first.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
      expect(Date.now() - started).toBeLessThan(8000);
      expect(describedWorkers(first.text)).toEqual([running]);
      expect(sample(first.text, 'otp_metrics_workers{state="answered"}')).toBe(1);
      expect(sample(first.text, 'otp_metrics_workers{state="silent"}')).toBe(1);
      expect(first.text).toContain(`otp_db_pool_size{worker="${running.worker}"} 10`);
      expect(first.text).not.toContain(`worker="${stopped.worker}"`);
      process.kill(stopped.pid, 'SIGCONT');
      await Promise.all(scrapes);
    } finally {
      process.kill(stopped.pid, 'SIGCONT');
    }
    const after = await served(run, base, '/metrics');
    expect(after.status).toBe(200);
    expect(describedWorkers(after.text)).toEqual([stopped, running]);
    expect(sample(after.text, 'otp_metrics_workers{state="silent"}')).toBe(0);
  }, 60_000);

  it('a worker that dies is replaced; SIGTERM then drains every worker and the primary exits 0', async () => {
    const before = await workersAnswering(2);
    const [victim] = [...before];
    process.kill(victim, 'SIGKILL');
    await waitFor(() => /worker pid \d+ died \(SIGKILL\): starting another/.test(run.stderr()), { what: 'the primary to notice the dead worker' });
    const after = await workersAnswering(2, 90_000);
    // the two answering now exclude the dead one: a new worker took its place
    await waitFor(
      async () => {
        after.add(await answeringPid(run, base));
        return [...after].filter((p) => !before.has(p)).length >= 1;
      },
      { timeoutMs: 90_000, intervalMs: 50, ignoreErrors: true, what: 'the replacement worker to answer' },
    );
    const replacement = [...after].find((p) => !before.has(p))!;
    expect(parentOf(replacement)).toBe(run.child.pid);
    expect(alive(victim)).toBe(false);
    // The scrape now holds the survivor's series and the replacement's, under a worker number of its own.
    const scraped = await waitFor(
      async () => {
        const { text } = await served(run, base, '/metrics');
        return sample(text, 'otp_metrics_workers{state="answered"}') === 2 && text;
      },
      { what: 'a scrape with both live workers' },
    );
    const listed = describedWorkers(scraped);
    expect(listed.map((w) => w.pid).sort()).toEqual([...after].filter(alive).sort());
    expect(Math.max(...listed.map((w) => Number(w.worker)))).toBeGreaterThan(2);
    // the primary counted the death
    expect(sample(scraped, 'otp_workers_died_total{worker="primary"}')).toBe(1);

    const workers = [...after].filter(alive);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toMatch(/SIGTERM received, stopping the workers/);
    expect(run.stderr()).toMatch(/"msg":"shutdown complete"/);
    for (const pid of workers) expect(alive(pid)).toBe(false);
  }, 180_000);
});

describe('WORKERS=2: a signal while the first worker starts', () => {
  it('SIGTERM before the first worker listens stops it, and the primary finishes its shutdown with exit 0', async () => {
    const db = await createTestDatabase();
    const port = await freePort();
    const run = runBuilt(MAIN, { WORKERS: '2', DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' });
    try {
      const pid = run.child.pid as number;
      const children = () => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      const [worker] = await waitFor(() => (children().length ? children() : undefined), { timeoutMs: 60_000, intervalMs: 5, what: 'the first worker to be forked' });
      expect(run.stdout() + run.stderr()).not.toMatch(/listening on/); // still starting: the case under test
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(run.stderr()).toMatch(/SIGTERM received, stopping the workers/);
      expect(run.stderr()).toMatch(/"msg":"shutdown complete"/);
      expect(alive(worker)).toBe(false);
    } finally {
      if (run.child.exitCode === null) {
        run.child.kill('SIGKILL');
        await run.exited;
      }
      await db.drop();
    }
  }, 120_000);
});

describe('a signal while the embedded PostgreSQL is fresh (migrations running): the start ends and the PostgreSQL is stopped', () => {
  it.each(['1', '2'])('WORKERS=%s: SIGTERM right after the embedded PostgreSQL listens: exit 0, "shutdown complete", nothing left serving its port', async (workers) => {
    const parent = mkdtempSync(join(tmpdir(), 'otp-workers-'));
    chmodSync(parent, 0o755);
    const pgPort = await freePort();
    const run = runBuilt(MAIN, { WORKERS: workers, EMBEDDED_PG_DIR: join(parent, 'pg'), EMBEDDED_PG_PORT: String(pgPort), PORT: String(await freePort()), HOST: '127.0.0.1' });
    try {
      const output = () => run.stdout() + run.stderr();
      await waitFor(() => /embedded PostgreSQL listening/.test(output()), { timeoutMs: 120_000, intervalMs: 5, what: 'the embedded PostgreSQL to listen' });
      expect(output()).not.toMatch(/listening on http/); // still starting: the case under test
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(output()).toMatch(/SIGTERM received while starting: stopping/);
      expect(output()).toMatch(/"msg":"shutdown complete"/);
      expect(output()).not.toMatch(/failed to start/);
      // nor does the start wait for the PostgreSQL being stopped, calling it unreachable
      expect(output()).not.toMatch(/database not reachable/);
      await expectEmbeddedStopped(pgPort);
    } finally {
      await stopSpawned();
      rmSync(parent, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('WORKERS=2 with no DATABASE_URL', () => {
  it('WORKERS=2: the embedded PostgreSQL dying stops the workers and the primary exits 70 (a supervisor restarts it), not 0', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'otp-workers-'));
    chmodSync(parent, 0o755);
    const pgDir = join(parent, 'pg');
    const port = await freePort();
    const run = runBuilt(MAIN, { WORKERS: '2', EMBEDDED_PG_DIR: pgDir, EMBEDDED_PG_PORT: String(await freePort()), PORT: String(port), HOST: '127.0.0.1' });
    try {
      await waitUntilReady(run, `http://127.0.0.1:${port}`, '/health/ready', 120_000);
      const postmaster = Number(readFileSync(join(pgDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(postmaster, 'SIGKILL');
      const started = Date.now();
      expect(await run.exited).toBe(70);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(run.stdout() + run.stderr()).toMatch(/stopped unexpectedly; stopping the workers[^]*shutdown finished with errors/);
    } finally {
      await stopSpawned();
      rmSync(parent, { recursive: true, force: true });
    }
  }, 300_000);

  it('the primary starts the embedded PostgreSQL once, both workers use it, and SIGTERM stops everything with exit 0', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'otp-workers-'));
    chmodSync(parent, 0o755);
    const pgPort = await freePort();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const run = runBuilt(MAIN, { WORKERS: '2', EMBEDDED_PG_DIR: join(parent, 'pg'), EMBEDDED_PG_PORT: String(pgPort), PORT: String(port), HOST: '127.0.0.1' });
    try {
      await waitUntilReady(run, base, '/health/ready', 120_000);
      const pids = new Set<number>();
      await waitFor(
        async () => {
          pids.add(await answeringPid(run, base));
          return pids.size >= 2;
        },
        { timeoutMs: 120_000, intervalMs: 50, ignoreErrors: true, what: () => `2 workers answering\n${run.stderr().slice(-2000)}` },
      );
      for (const pid of pids) expect(parentOf(pid)).toBe(run.child.pid);
      // the workers run with the node flags the primary was launched with (npm start's, the image's)
      for (const pid of pids) expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining([...LAUNCH_FLAGS]));
      // one embedded server, started by the primary: one dev client created, its key printed once
      expect(run.stdout().match(/Development client "dev" created/g) ?? []).toHaveLength(1);
      expect(new Set(run.stdout().match(/otp_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}/g)).size).toBe(1);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      await expectEmbeddedStopped(pgPort);
    } finally {
      await stopSpawned();
      rmSync(parent, { recursive: true, force: true });
    }
  }, 300_000);
});
