// What the slowest requests of a repetition met: bench/alone.js and `npm run bench` (both with BENCH_STALLS=1) set the
// p99 tail beside the pauses recorded while it ran (bench/stall-log.js: GC pauses and late event-loop turns of the
// target and of the load generator; bench/host-steal.js: spells of hypervisor steal; bench/fsync-probe.js: slow
// disk flushes), all as { at (epoch ms), ms, what }.
'use strict';
const { readFileSync } = require('node:fs');
const { watchPauses } = require('./stall-log');
const { stealSpells } = require('./host-steal');

/** Pauses that overlap [from, to] (epoch ms). */
const overlapping = (pauses, from, to) => pauses.filter((p) => p.at <= to && p.at + p.ms >= from);

const describe = (pauses) =>
  [...pauses]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 4)
    .map((p) => `${p.what} ${p.ms.toFixed(1)} ms`)
    .join(', ');

/** The pauses a target wrote to its STALL_LOG_FILE (bench/stall-log.js as a preload) so far. */
function readPauses(file) {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return []; // nothing recorded yet
  }
}

/**
 * Watches this process (the bench's load generator and fake provider): its own pauses, labelled `load generator …`,
 * and the host's spells of steal. Returns { pauses(), stop() }.
 */
function watchBenchProcess() {
  const own = [];
  const steal = stealSpells();
  const unwatch = watchPauses((p) => own.push(p));
  return {
    pauses: () => [...own.map((p) => Object.assign({}, p, { what: `load generator ${p.what}` })), ...steal.spells()],
    stop: () => {
      unwatch();
      steal.stop();
    },
  };
}

/**
 * The repetition's pauses and its p99 tail: `requests` as [latency ms, scheduled send (epoch ms)]; the slowest 1 % in
 * bursts (a gap of 250 ms between sends starts a new one), each with the pauses that overlapped it, from 50 ms before
 * its first send to its last answer. `pauses` may hold any span: those outside the repetition (from 50 ms before its
 * first send to its last answer) are left out. Returns the report's lines, indented by two spaces.
 */
function stallReport(requests, allPauses) {
  const pauses = overlapping(allPauses, Math.min(...requests.map((r) => r[1])) - 50, Math.max(...requests.map((r) => r[1] + r[0])));
  const lines = [];
  const kinds = new Map();
  for (const p of pauses) {
    const k = kinds.get(p.what) ?? { n: 0, max: 0 };
    k.n++;
    k.max = Math.max(k.max, p.ms);
    kinds.set(p.what, k);
  }
  lines.push(`  pauses in it: ${kinds.size ? [...kinds].map(([what, k]) => `${what} ×${k.n} (max ${k.max.toFixed(1)} ms)`).join(', ') : 'none'}`);
  const byLatency = [...requests].sort((a, b) => b[0] - a[0]);
  const tail = byLatency.slice(0, Math.max(1, Math.ceil(requests.length / 100))).sort((a, b) => a[1] - b[1]);
  const first = Math.min(...requests.map((r) => r[1]));
  const bursts = [];
  for (const r of tail) {
    const last = bursts[bursts.length - 1];
    if (last && r[1] - last.to <= 250) {
      last.to = r[1];
      last.end = Math.max(last.end, r[1] + r[0]);
      last.n++;
      last.max = Math.max(last.max, r[0]);
    } else bursts.push({ from: r[1], to: r[1], end: r[1] + r[0], n: 1, max: r[0] });
  }
  for (const b of bursts) b.met = overlapping(pauses, b.from - 50, b.end);
  const explained = bursts.filter((b) => b.met.length).reduce((n, b) => n + b.n, 0);
  lines.push(`  p99 tail: ${tail.length} requests of ${Math.min(...tail.map((r) => r[0])).toFixed(1)} ms or more, in ${bursts.length} burst(s); ${explained} of them overlapped a pause:`);
  for (const { met, ...b } of bursts) {
    lines.push(`    @${((b.from - first) / 1000).toFixed(2)} s: ${b.n} request(s) up to ${b.max.toFixed(0)} ms; ${met.length ? describe(met) : 'no pause seen'}`);
  }
  return lines.join('\n');
}

module.exports = { overlapping, readPauses, watchBenchProcess, stallReport };
