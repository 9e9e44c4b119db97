/**
 * The bench's reading of processes' CPU time (bench/proc-cpu.js), as bench/alone.js reads PostgreSQL's and
 * bench/cpu-split.js every process's: a process that ended between two readings still counts, through the
 * figures of the parent that waited for it, and only for its time within the window.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Stat {
  comm: string;
  ppid: number;
  user: number;
  sys: number;
  childUser: number;
  childSys: number;
  start: number;
}
interface Line {
  user: number;
  sys: number;
  ppid: number;
  start: number;
  name: string;
  kind?: string;
}
const load = createRequire(__filename);
const { postgresKind, split } = load('../bench/cpu-split.js') as {
  postgresKind(cmd: string): string;
  split(before: Map<string, Line>, after: Map<string, Line>): { byName: Map<string, { user: number; sys: number }>; byKind: Map<string, { user: number; sys: number }> };
};
const { readStat, processes, ownCpuMs, withChildrenMs, cpuMsOf, TICK_MS } = load('../bench/proc-cpu.js') as {
  readStat(pid: number | string): Stat | null;
  processes(): Map<string, Stat>;
  ownCpuMs(pid: number | string): number;
  withChildrenMs(s: Stat): number;
  cpuMsOf(comm: string, procs?: Map<string, Stat>): number;
  TICK_MS: number;
};

const linux = process.platform === 'linux';

(linux ? describe : describe.skip)('bench: CPU time of processes from /proc', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'proc-cpu-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a process: its name, parent and times, which only grow', () => {
    const a = readStat(process.pid)!;
    expect(a).toMatchObject({ comm: expect.any(String), ppid: process.ppid, start: expect.any(Number) });
    const cpu0 = process.cpuUsage();
    while (process.cpuUsage(cpu0).user < 60_000); // 60 ms of CPU, so that ticks pass
    const b = readStat(process.pid)!;
    expect(b.user + b.sys).toBeGreaterThan(a.user + a.sys);
    expect(withChildrenMs(b)).toBe((b.user + b.sys + b.childUser + b.childSys) * TICK_MS);
    expect(ownCpuMs(process.pid)).toBeGreaterThanOrEqual((b.user + b.sys) * TICK_MS);
    expect(readStat(2 ** 30)).toBeNull();
    expect(processes().get(String(process.pid))?.comm).toBe(a.comm);
  });

  it('counts a process that started and ended between two readings, through the parent that waited for it', async () => {
    // A shell under a name of its own, so that no other process on the machine counts: it runs a busy subshell (a
    // child of the same name), waits for it, prints the children's CPU time (`times`), and stays (a builtin `read`).
    const shell = join(dir, 'procprobe');
    copyFileSync('/bin/sh', shell);
    const before = cpuMsOf('procprobe');
    expect(before).toBe(0);
    // argv0 'sh': a busybox shell picks its applet by it; the process's name is still the file's
    const child = spawn(shell, ['-c', '( i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done ) & wait; times; read x'], { stdio: ['pipe', 'pipe', 'inherit'], argv0: 'sh' });
    const closed = new Promise((resolve) => child.once('close', resolve));
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.split('\n').length > 2) resolve();
        });
        child.once('exit', () => reject(new Error(`the shell exited: ${out}`)));
        child.once('error', reject);
      });
      // `times`: the shell's own user and system time, then its ended children's ("0m0.290000s 0m0.000000s")
      const seconds = (line: string) => line.match(/(\d+)m([\d.]+)s/g)!.map((t) => Number(/(\d+)m/.exec(t)![1]) * 60 + Number(/m([\d.]+)s/.exec(t)![1]));
      const [user, sys] = seconds(out.split('\n')[1]);
      const childrenMs = (user + sys) * 1000;
      expect(childrenMs).toBeGreaterThan(50);

      const procs = processes();
      const after = cpuMsOf('procprobe', procs);
      expect(after - before).toBeGreaterThanOrEqual(childrenMs - 2 * TICK_MS);
      // the live processes' own times alone (the way it was read before) miss the subshell entirely
      const ownOnly = [...procs.values()].filter((s) => s.comm === 'procprobe').reduce((ms, s) => ms + (s.user + s.sys) * TICK_MS, 0);
      expect(ownOnly).toBeLessThan(childrenMs / 2);
    } finally {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        child.kill('SIGKILL');
        await closed;
      }
    }
  });

  it('splits a window by process: one that began in it from zero, one that ended in it for its part of the window only', () => {
    const line = (name: string, ppid: number, user: number, start = 1, kind?: string): Line => ({ user, sys: 0, ppid, start, name, kind });
    const before = new Map([
      ['10', line('postgres (all its processes)', 1, 100, 1, 'postmaster (and its ended children)')],
      ['11', line('postgres (all its processes)', 10, 500, 5, 'backends')], // ends within the window
      ['12', line('postgres (all its processes)', 10, 50, 6, 'walwriter')],
      ['20', line('node app', 1, 1000, 2)],
      ['21', line('sh', 20, 30, 3)], // its pid is reused within the window
    ]);
    const after = new Map([
      // the postmaster waited for 11, which had used 40 more ticks: 540 moved to its children figures
      ['10', line('postgres (all its processes)', 1, 100 + 540, 1, 'postmaster (and its ended children)')],
      ['12', line('postgres (all its processes)', 10, 60, 6, 'walwriter')],
      ['13', line('postgres (all its processes)', 10, 25, 90, 'backends')], // began within the window
      ['20', line('node app', 1, 1000 + 200 + 35, 2)], // 200 its own, 35 from the ended 21 (5 within the window)
      ['21', line('sh', 20, 7, 95)], // another process with 21's pid
    ]);
    const { byName, byKind } = split(before, after);
    expect(byName.get('postgres (all its processes)')).toEqual({ user: 40 + 10 + 25, sys: 0 });
    expect(byName.get('node app')).toEqual({ user: 205, sys: 0 });
    expect(byName.get('sh')).toEqual({ user: 7, sys: 0 });
    expect(Object.fromEntries(byKind)).toEqual({
      'postmaster (and its ended children)': { user: 40, sys: 0 },
      walwriter: { user: 10, sys: 0 },
      backends: { user: 25, sys: 0 },
    });
  });

  it("names PostgreSQL's processes by kind from their titles", () => {
    expect(postgresKind('/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf')).toBe('postmaster (and its ended children)');
    expect(postgresKind('postgres: 15/main: checkpointer')).toBe('checkpointer');
    expect(postgresKind('postgres: walwriter')).toBe('walwriter');
    expect(postgresKind('postgres: 15/main: autovacuum worker bench_db')).toBe('autovacuum worker');
    expect(postgresKind('postgres: 15/main: postgres bench_db 127.0.0.1(43210) idle')).toBe('backends');
    expect(postgresKind('postgres: postgres test [local] INSERT')).toBe('backends');
  });
});
