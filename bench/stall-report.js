// What the slowest requests of a repetition met: bench/alone.js and `npm run bench` (both with BENCH_STALLS=1) set the
// p99 tail beside the pauses recorded while it ran (bench/stall-log.js: GC pauses and late event-loop turns of the
// target and of the load generator; bench/host-steal.js: spells of hypervisor steal; bench/cpu-probe.js: CPU stalls
// and kernel threads' spells; bench/fsync-probe.js: slow disk flushes), all as { at (epoch ms), ms, what }.
'use strict';
const { readFileSync } = require('node:fs');
const { watchPauses } = require('./stall-log');
const { stealSpells } = require('./host-steal');
const { startCpuProbes } = require('./cpu-probe');

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
 * the host's spells of steal, and what the CPU probes see (bench/cpu-probe.js). Returns { pauses(), stop() }.
 */
function watchBenchProcess() {
  const own = [];
  const steal = stealSpells();
  const cpus = startCpuProbes();
  const unwatch = watchPauses((p) => own.push(p));
  return {
    pauses: () => [...own.map((p) => Object.assign({}, p, { what: `load generator ${p.what}` })), ...steal.spells(), ...cpus.pauses()],
    stop: () => {
      unwatch();
      steal.stop();
      cpus.stop();
    },
  };
}

/**
 * The chance (0–1) that a window of `width` ms placed at random within [from, until] overlaps one of `pauses`: the
 * share of the window's possible starts, [from, until − width], from which it would (starts in [p.at − width, p.at + p.ms]).
 */
function chance(pauses, width, from, until) {
  const to = until - width;
  const spans = pauses.map((p) => [Math.max(from, p.at - width), Math.min(to, p.at + p.ms)]).filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let covered = 0;
  let end = -Infinity;
  for (const [a, b] of spans) {
    if (b <= end) continue;
    covered += b - Math.max(a, end);
    end = b;
  }
  return to > from ? covered / (to - from) : 0;
}

/**
 * The repetition's pauses and its p99 tail: `requests` as [latency ms, scheduled send (epoch ms)]; the slowest 1 % in
 * bursts (a gap of 250 ms between sends starts a new one), each with the pauses that overlapped it, from 50 ms before
 * its first send to its last answer. `pauses` may hold any span: those outside the repetition (from 50 ms before its
 * first send to its last answer) are left out. Each kind of pause says how many bursts it overlapped, beside how many
 * windows as long as the bursts, placed at random in the repetition, would overlap by chance: a kind that comes often
 * (a kernel thread's spells, say) overlaps many bursts without being their cause. Returns the report's lines, indented
 * by two spaces.
 */
function stallReport(requests, allPauses) {
  const first = Math.min(...requests.map((r) => r[1]));
  const last = Math.max(...requests.map((r) => r[1] + r[0]));
  const pauses = overlapping(allPauses, first - 50, last);
  const byLatency = [...requests].sort((a, b) => b[0] - a[0]);
  const tail = byLatency.slice(0, Math.max(1, Math.ceil(requests.length / 100))).sort((a, b) => a[1] - b[1]);
  const bursts = [];
  for (const r of tail) {
    const b = bursts[bursts.length - 1];
    if (b && r[1] - b.to <= 250) {
      b.to = r[1];
      b.end = Math.max(b.end, r[1] + r[0]);
      b.n++;
      b.max = Math.max(b.max, r[0]);
    } else bursts.push({ from: r[1], to: r[1], end: r[1] + r[0], n: 1, max: r[0] });
  }
  for (const b of bursts) b.met = overlapping(pauses, b.from - 50, b.end);
  const kinds = new Map();
  for (const p of pauses) {
    const k = kinds.get(p.what) ?? { n: 0, max: 0, all: [] };
    k.n++;
    k.max = Math.max(k.max, p.ms);
    k.all.push(p);
    kinds.set(p.what, k);
  }
  const kindText = ([what, k]) => {
    const met = bursts.filter((b) => b.met.some((p) => p.what === what)).length;
    const expected = bursts.reduce((sum, b) => sum + chance(k.all, b.end - b.from + 50, first - 50, last), 0);
    return `${what} ×${k.n} (max ${k.max.toFixed(1)} ms; in ${met} of ${bursts.length} bursts, ${expected.toFixed(1)} by chance)`;
  };
  const lines = [`  pauses in it: ${kinds.size ? [...kinds].map(kindText).join(', ') : 'none'}`];
  const explained = bursts.filter((b) => b.met.length).reduce((n, b) => n + b.n, 0);
  lines.push(`  p99 tail: ${tail.length} requests of ${Math.min(...tail.map((r) => r[0])).toFixed(1)} ms or more, in ${bursts.length} burst(s); ${explained} of them overlapped a pause:`);
  for (const { met, ...b } of bursts) {
    lines.push(`    @${((b.from - first) / 1000).toFixed(2)} s: ${b.n} request(s) up to ${b.max.toFixed(0)} ms; ${met.length ? describe(met) : 'no pause seen'}`);
  }
  return lines.join('\n');
}

module.exports = { overlapping, readPauses, watchBenchProcess, stallReport };
