// The host's CPU split by process over a window: `node bench/cpu-split.js [seconds]` (10) while something runs,
// e.g. during `bench/alone.js`'s closed-loop warm-up. Prints how busy the host was (all CPUs; idle and I/O wait
// count as not busy) and the ten processes that used most, each as a share of one core (user + system time from
// /proc/<pid>/stat), PostgreSQL's processes summed as one and a node process named by its command line (the
// bench's own process runs the load generator and the fake provider). Linux only. Figures:
// docs/performance-log.md, "What bounds the closed loop".
'use strict';
const { readdirSync, readFileSync } = require('node:fs');

const SECONDS = Number(process.argv[2] || 10);
const TICK_MS = 10; // USER_HZ 100

/** pid → { user, sys (ticks), name } for every process readable now. */
function processes() {
  const out = new Map();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim().slice(0, 80);
      const name = comm === 'postgres' || cmd.startsWith('postgres') ? 'postgres (all its processes)' : cmd || comm;
      out.set(pid, { user: Number(f[11]), sys: Number(f[12]), name });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** All CPUs' ticks: total and not busy (idle + iowait). */
function host() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1, 9).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), idle: f[3] + f[4] };
}

const before = processes();
const hostBefore = host();
setTimeout(() => {
  const after = processes();
  const hostAfter = host();
  const byName = new Map();
  for (const [pid, p] of after) {
    const was = before.get(pid) ?? { user: p.user, sys: p.sys };
    const add = byName.get(p.name) ?? { user: 0, sys: 0 };
    add.user += p.user - was.user;
    add.sys += p.sys - was.sys;
    byName.set(p.name, add);
  }
  const busy = 1 - (hostAfter.idle - hostBefore.idle) / (hostAfter.total - hostBefore.total);
  const core = (ticks) => ((ticks * TICK_MS) / (SECONDS * 1000)).toFixed(2);
  console.log(`host busy ${(busy * 100).toFixed(0)} % over ${SECONDS} s; of one core, user + system:`);
  const top = [...byName].filter(([, t]) => t.user + t.sys > 0).sort((a, b) => b[1].user + b[1].sys - (a[1].user + a[1].sys)).slice(0, 10);
  for (const [name, t] of top) console.log(`${core(t.user + t.sys).padStart(6)} (${core(t.user)} + ${core(t.sys)})  ${name}`);
}, SECONDS * 1000);
