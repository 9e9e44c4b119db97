/**
 * The bench's reading of processes' CPU time (bench/proc-cpu.js), as bench/alone.js reads PostgreSQL's and
 * bench/cpu-split.js every process's: a process that ended between two readings still counts, through the
 * figures of the parent that waited for it.
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
}
const { readStat, processes, withChildrenMs, cpuMsOf, TICK_MS } = createRequire(__filename)('../bench/proc-cpu.js') as {
  readStat(pid: number | string): Stat | null;
  processes(): Map<string, Stat>;
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
    expect(a).toMatchObject({ comm: expect.any(String), ppid: process.ppid });
    const until = Date.now() + 60;
    while (Date.now() < until); // busy, so that ticks pass
    const b = readStat(process.pid)!;
    expect(b.user + b.sys).toBeGreaterThan(a.user + a.sys);
    expect(withChildrenMs(b)).toBe((b.user + b.sys + b.childUser + b.childSys) * TICK_MS);
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
    const child = spawn(shell, ['-c', '( i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done ) & wait; times; read x'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.split('\n').length > 2) resolve();
        });
        child.once('exit', () => reject(new Error(`the shell exited: ${out}`)));
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
      const closed = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGKILL');
      await closed;
    }
  });
});
