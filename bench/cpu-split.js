// The host's CPU split by process over a window: `node bench/cpu-split.js [seconds]` (10) while something runs,
// e.g. during `bench/alone.js`'s closed-loop warm-up. Prints how busy the host was (all CPUs; idle and I/O wait
// count as not busy) and the ten processes that used most, each as a share of one core (user + system time from
// /proc/<pid>/stat), PostgreSQL's processes summed as one and a node process named by its command line (the
// bench's own process runs the load generator and the fake provider), then PostgreSQL's share by kind of process
// (backends, autovacuum workers, WAL writer…). A process counts with its ended children (bench/proc-cpu.js): the
// CPU a backend or an autovacuum worker used within the window before it ended shows in the postmaster's line. Linux
// only.
// Figures: docs/performance-log.md, "What bounds the closed loop".
'use strict';
const { readFileSync } = require('node:fs');
const { TICK_MS, processes: stats } = require('./proc-cpu');
const { cpuTicks } = require('./host-steal');

// PostgreSQL's processes other than backends, as their titles name them (after "postgres: " and a cluster name)
const PG_KINDS = ['autovacuum worker', 'autovacuum launcher', 'checkpointer', 'background writer', 'walwriter', 'walsender', 'walreceiver', 'archiver', 'logical replication', 'stats collector', 'parallel worker', 'startup'];

/** PostgreSQL's kind of process from its title: the postmaster (which holds its ended children's time), a kind above, or a backend. */
function postgresKind(cmd) {
  if (!cmd) return 'ended, not yet waited for'; // a zombie's title is gone
  if (!cmd.startsWith('postgres:')) return 'postmaster (and its ended children)';
  let title = cmd.slice('postgres:'.length).trim();
  if (title.includes(': ')) title = title.slice(title.indexOf(': ') + 2); // after a cluster_name ("15/main: walwriter")
  return PG_KINDS.find((k) => title.startsWith(k)) ?? 'backends';
}

/** pid → { user, sys (ticks, ended children's included), ppid, start, name, kind } for every process readable now. */
function processes() {
  const out = new Map();
  for (const [pid, s] of stats()) {
    let cmd;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim().slice(0, 80);
    } catch {
      continue; // gone meanwhile
    }
    const postgres = s.comm === 'postgres';
    const name = postgres ? 'postgres (all its processes)' : cmd || s.comm;
    out.set(pid, { user: s.user + s.childUser, sys: s.sys + s.childSys, ppid: s.ppid, start: s.start, name, kind: postgres ? postgresKind(cmd) : undefined });
  }
  return out;
}

/**
 * Each line's ticks between two processes() readings: { byName, byKind } (maps of { user, sys }). A process that began
 * within the window counts from zero. One that ended within it had all its time moved to its parent's children
 * figures, so its time before the window is taken off the line of its nearest ancestor still there (a pid reused
 * by another process is told apart by its start).
 */
function split(before, after) {
  const byName = new Map();
  const byKind = new Map();
  const add = (p, user, sys) => {
    for (const [map, key] of [[byName, p.name], [byKind, p.kind]]) {
      if (key === undefined) continue;
      const t = map.get(key) ?? { user: 0, sys: 0 };
      t.user += user;
      t.sys += sys;
      map.set(key, t);
    }
  };
  const same = (pid) => before.has(pid) && after.has(pid) && before.get(pid).start === after.get(pid).start;
  for (const [pid, p] of after) {
    const was = same(pid) ? before.get(pid) : { user: 0, sys: 0 };
    add(p, p.user - was.user, p.sys - was.sys);
  }
  for (const [pid, p] of before) {
    if (same(pid)) continue;
    let up = String(p.ppid);
    while (before.has(up) && !same(up)) up = String(before.get(up).ppid);
    if (same(up)) add(after.get(up), -p.user, -p.sys);
  }
  return { byName, byKind };
}

function main(seconds) {
  const before = processes();
  const hostBefore = cpuTicks();
  setTimeout(() => {
    const after = processes();
    const hostAfter = cpuTicks();
    const { byName, byKind } = split(before, after);
    const busy = 1 - (hostAfter.idle - hostBefore.idle) / (hostAfter.total - hostBefore.total);
    const core = (ticks) => ((ticks * TICK_MS) / (seconds * 1000)).toFixed(2);
    const lines = (map, n) =>
      [...map]
        .filter(([, t]) => t.user + t.sys > 0)
        .sort((a, b) => b[1].user + b[1].sys - (a[1].user + a[1].sys))
        .slice(0, n)
        .map(([name, t]) => `${core(t.user + t.sys).padStart(6)} (${core(t.user)} + ${core(t.sys)})  ${name}`);
    console.log(`host busy ${(busy * 100).toFixed(0)} % over ${seconds} s; of one core, user + system:`);
    for (const line of lines(byName, 10)) console.log(line);
    if (byKind.size) {
      console.log('PostgreSQL by kind of process:');
      for (const line of lines(byKind, PG_KINDS.length + 2)) console.log(`  ${line}`);
    }
  }, seconds * 1000);
}

if (require.main === module) main(Number(process.argv[2] || 10));

module.exports = { postgresKind, split };
