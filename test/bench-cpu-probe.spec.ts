/**
 * The benches' CPU probe (bench/cpu-probe.js, BENCH_STALLS=1): the spells in which a watched task took the CPU, read
 * from /proc/PID/schedstat. Here the watched task is a child that computes for 40 ms of CPU every 150 ms, not a kernel
 * thread; and whether the kernel runs DAMON, read from a sysfs tree made here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const { onJsonLines } = createRequire(__filename)('../bench/stall-log.js') as { onJsonLines<T>(stream: NodeJS.ReadableStream, record: (r: T) => void): void };
const { damonState } = createRequire(__filename)('../bench/cpu-probe.js') as {
  damonState(root?: string, threads?: Array<{ pid: string; name: string }>): string | null;
};

const linux = existsSync('/proc/self/schedstat');

(linux ? describe : describe.skip)('bench: the CPU probe', () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

  it('reports each spell of a watched task with the CPU time it ran', async () => {
    // 40 ms of CPU (not of the clock: a loaded machine may set it aside meanwhile) every 150 ms; gone after 20 s in any case
    const spin = 'const spell = () => { const t = process.cpuUsage(); while (process.cpuUsage(t).user + process.cpuUsage(t).system < 40000); };';
    const busy = spawn(process.execPath, ['-e', `${spin} setInterval(spell, 150); setTimeout(() => process.exit(0), 20000);`], { stdio: 'ignore' });
    children.push(busy);
    const probe = spawn(process.execPath, [path.join(__dirname, '../bench/cpu-probe.js')], {
      env: { PATH: process.env.PATH, CPU_PROBE_LABEL: 'cpu9', CPU_PROBE_THREADS: JSON.stringify([{ pid: busy.pid, name: 'busy' }]) },
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'], // the channel: the probe exits when this process goes away
    });
    children.push(probe);
    const records: Array<{ at: number; ms: number; what: string }> = [];
    onJsonLines<(typeof records)[number]>(probe.stdout!, (r) => records.push(r));
    const spells = () => records.filter((r) => r.what === 'busy ran');
    // six spells, or 10 s
    for (let waited = 0; spells().length < 6 && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    const exited = new Promise((r) => probe.once('exit', r));
    probe.kill('SIGTERM');
    await exited;

    expect(spells().length).toBeGreaterThanOrEqual(6);
    // a spell is one of busy's 40-ms turns, not the 4-ms pieces the kernel's ticks add to schedstat
    const ms = spells().map((s) => s.ms).sort((a, b) => a - b);
    expect(ms[Math.floor(ms.length / 2)]).toBeGreaterThanOrEqual(25);
    expect(ms[Math.floor(ms.length / 2)]).toBeLessThanOrEqual(120);
    // the spells begin about 150 ms apart
    const gaps = spells().slice(1).map((s, i) => s.at - spells()[i].at).sort((a, b) => a - b);
    expect(gaps[Math.floor(gaps.length / 2)]).toBeGreaterThan(100);
    expect(gaps[Math.floor(gaps.length / 2)]).toBeLessThan(300);
    expect(records.every((r) => r.what === 'busy ran' || r.what === 'cpu9 stall')).toBe(true);
  });
});

describe('bench: whether the kernel runs DAMON', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(path.join(os.tmpdir(), 'damon-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));
  const kdamond = (id: string, state: string, sampleUs?: number) => {
    mkdirSync(path.join(root, id, 'contexts/0/monitoring_attrs/intervals'), { recursive: true });
    writeFileSync(path.join(root, id, 'state'), `${state}\n`);
    if (sampleUs) writeFileSync(path.join(root, id, 'contexts/0/monitoring_attrs/intervals/sample_us'), `${sampleUs}\n`);
  };

  it('names each kdamond that is on, with its sampling interval', () => {
    kdamond('0', 'on', 500_000);
    kdamond('1', 'off', 5_000);
    kdamond('2', 'on');
    expect(damonState(root, [])).toBe('DAMON on: kdamond 0 samples every 500 ms, kdamond 2');
  });

  it('says nothing where none is on, or where there is no DAMON', () => {
    kdamond('0', 'off', 500_000);
    expect(damonState(root, [])).toBeNull();
    expect(damonState(path.join(root, 'missing'), [])).toBeNull();
  });

  it('names its kernel threads where its settings cannot be read or show none on', () => {
    const threads = [{ pid: '83', name: 'kdamond.0' }];
    expect(damonState(path.join(root, 'missing'), threads)).toBe('DAMON on: kdamond.0 running');
    kdamond('0', 'off', 500_000);
    expect(damonState(root, threads)).toBe('DAMON on: kdamond.0 running');
  });
});
