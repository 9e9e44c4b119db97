// The host's CPU split by process over a window: `node bench/cpu-split.js [seconds]` (10) while something runs,
// e.g. during `bench/alone.js`'s closed-loop warm-up. Prints how busy the host was (all CPUs; idle and I/O wait
// count as not busy) and the ten processes that used most, each as a share of one core (user + system time from
// /proc/<pid>/stat), PostgreSQL's processes summed as one and a node process named by its command line (the
// bench's own process runs the load generator and the fake provider), then PostgreSQL's share by kind of process
// (backends, autovacuum workers, WAL writer…). A process counts with its ended children (bench/proc-cpu.js): the
// CPU of a backend or an autovacuum worker that ended within the window shows in the postmaster's line. Linux only.
// Figures: docs/performance-log.md, "What bounds the closed loop".
'use strict';
const { readFileSync } = require('node:fs');
const { TICK_MS, processes: stats } = require('./proc-cpu');

const SECONDS = Number(process.argv[2] || 10);
// PostgreSQL's processes other than backends, as their titles name them (after "postgres: " and a cluster name)
const PG_KINDS = ['autovacuum worker', 'autovacuum launcher', 'checkpointer', 'background writer', 'walwriter', 'walsender', 'walreceiver', 'archiver', 'logical replication', 'stats collector', 'parallel worker', 'startup'];

/** PostgreSQL's kind of process from its title: the postmaster (which holds its ended children's time), a kind above, or a backend. */
function postgresKind(cmd) {
  if (!cmd.startsWith('postgres:')) return 'postmaster (and its ended children)';
  let title = cmd.slice('postgres:'.length).trim();
  if (title.includes(': ')) title = title.slice(title.indexOf(': ') + 2); // after a cluster_name ("15/main: walwriter")
  return PG_KINDS.find((k) => title.startsWith(k)) ?? 'backends';
}

/** pid → { user, sys (ticks, ended children's included), name, kind } for every process readable now. */
function processes() {
  const out = new Map();
  for (const [pid, s] of stats()) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim().slice(0, 80);
    } catch {
      // gone meanwhile
    }
    const postgres = s.comm === 'postgres';
    const name = postgres ? 'postgres (all its processes)' : cmd || s.comm;
    out.set(pid, { user: s.user + s.childUser, sys: s.sys + s.childSys, name, kind: postgres ? postgresKind(cmd) : undefined });
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
  const byKind = new Map();
  const add = (map, key, user, sys) => {
    const t = map.get(key) ?? { user: 0, sys: 0 };
    t.user += user;
    t.sys += sys;
    map.set(key, t);
  };
  for (const [pid, p] of after) {
    // a process that started within the window used all its time within it
    const was = before.get(pid) ?? { user: 0, sys: 0 };
    add(byName, p.name, p.user - was.user, p.sys - was.sys);
    if (p.kind) add(byKind, p.kind, p.user - was.user, p.sys - was.sys);
  }
  const busy = 1 - (hostAfter.idle - hostBefore.idle) / (hostAfter.total - hostBefore.total);
  const core = (ticks) => ((ticks * TICK_MS) / (SECONDS * 1000)).toFixed(2);
  const lines = (map, n) =>
    [...map]
      .filter(([, t]) => t.user + t.sys > 0)
      .sort((a, b) => b[1].user + b[1].sys - (a[1].user + a[1].sys))
      .slice(0, n)
      .map(([name, t]) => `${core(t.user + t.sys).padStart(6)} (${core(t.user)} + ${core(t.sys)})  ${name}`);
  console.log(`host busy ${(busy * 100).toFixed(0)} % over ${SECONDS} s; of one core, user + system:`);
  for (const line of lines(byName, 10)) console.log(line);
  if (byKind.size) {
    console.log('PostgreSQL by kind of process:');
    for (const line of lines(byKind, PG_KINDS.length + 2)) console.log(`  ${line}`);
  }
}, SECONDS * 1000);
