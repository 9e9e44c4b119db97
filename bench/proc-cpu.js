// CPU time of processes read from /proc (Linux), counting the ones that ended. A parent that has waited for an ended
// child holds the child's CPU time in its own stat (cutime and cstime), so a process's own time plus its ended
// children's only grows: the difference of two readings counts a process that ended in between (its time moved to
// its parent's children figures) and one that started and ended in between. Summing only the live processes' own
// times missed those, and subtracted all the CPU time of one that was there at the first reading and gone at the
// second (a PostgreSQL backend whose connection closed, an autovacuum worker that finished). Left out: a process
// whose parent ended without waiting for it (its time goes to whoever adopts it), and the microseconds in which a
// reading of /proc, pid by pid, can see a child both alive and in its parent's figures, or in neither.
'use strict';
const { readdirSync, readFileSync } = require('node:fs');

const TICK_MS = 10; // USER_HZ 100

/** One process's figures from /proc/<pid>/stat, in ticks, or null when it cannot be read (gone meanwhile). */
function readStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // start: when it began (ticks after boot), to tell a pid reused within a window from the process that had it
    return { comm, ppid: Number(f[1]), user: Number(f[11]), sys: Number(f[12]), childUser: Number(f[13]), childSys: Number(f[14]), start: Number(f[19]) };
  } catch {
    return null;
  }
}

/** Every readable process now: pid → readStat(pid). */
function processes() {
  const out = new Map();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const s = readStat(pid);
    if (s) out.set(pid, s);
  }
  return out;
}

/** A process's own CPU time in ms (not its ended children's), by pid. */
const ownCpuMs = (pid) => {
  const s = readStat(pid);
  return (s.user + s.sys) * TICK_MS;
};

/** A process's CPU time in ms, its own and its ended children's. */
const withChildrenMs = (s) => (s.user + s.sys + s.childUser + s.childSys) * TICK_MS;

/**
 * CPU time in ms of every process named `comm` (e.g. 'postgres': the postmaster, its backends and background
 * processes), their ended children's included. Compare two readings; each alone is a total since the processes began.
 */
function cpuMsOf(comm, procs = processes()) {
  let ms = 0;
  for (const s of procs.values()) if (s.comm === comm) ms += withChildrenMs(s);
  return ms;
}

module.exports = { TICK_MS, readStat, processes, ownCpuMs, withChildrenMs, cpuMsOf };
