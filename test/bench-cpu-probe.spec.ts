/**
 * The benches' CPU probe (bench/cpu-probe.js, BENCH_STALLS=1): the spells in which a watched task took the CPU, read
 * from /proc/PID/schedstat. Here the watched task is a child that computes for 40 ms every 150 ms, not a kernel thread.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const { damonState } = createRequire(__filename)('../bench/cpu-probe.js') as { damonState(root?: string): string | null };

const linux = existsSync('/proc/self/schedstat');

(linux ? describe : describe.skip)('bench: the CPU probe', () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

  it('reports each spell of a watched task with the CPU time it ran', async () => {
    const busy = spawn(process.execPath, ['-e', 'setInterval(() => { const t = Date.now(); while (Date.now() - t < 40); }, 150)'], { stdio: 'ignore' });
    children.push(busy);
    const probe = spawn(process.execPath, [path.join(__dirname, '../bench/cpu-probe.js')], {
      env: { PATH: process.env.PATH, CPU_PROBE_LABEL: 'cpu9', CPU_PROBE_THREADS: JSON.stringify([{ pid: busy.pid, name: 'busy' }]) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(probe);
    let out = '';
    probe.stdout!.on('data', (d) => (out += d));
    await new Promise((r) => setTimeout(r, 1500));
    probe.kill('SIGTERM');
    await new Promise((r) => probe.once('exit', r));

    const records = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { at: number; ms: number; what: string });
    const spells = records.filter((r) => r.what === 'busy ran');
    // about nine spells of 40 ms in 1.5 s; a loaded machine may stretch or merge some, so only the bounds are held
    expect(spells.length).toBeGreaterThanOrEqual(4);
    for (const s of spells.slice(1, -1)) {
      expect(s.ms).toBeGreaterThanOrEqual(20);
      expect(s.ms).toBeLessThanOrEqual(200);
      expect(Math.abs(s.at - Date.now())).toBeLessThan(5000);
    }
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
    expect(damonState(root)).toBe('DAMON on: kdamond 0 samples every 500 ms, kdamond 2');
  });

  it('says nothing where none is on, or where there is no DAMON', () => {
    kdamond('0', 'off', 500_000);
    expect(damonState(root)).toBeNull();
    expect(damonState(path.join(root, 'missing'))).toBeNull();
  });
});
