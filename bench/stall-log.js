// Preload for a bench target (bench/alone.js with BENCH_STALLS=1 adds `--require bench/stall-log.js`): writes one JSON
// line per pause the target's main thread saw to STALL_LOG_FILE, with `at` in epoch milliseconds (performance
// timeOrigin + startTime, comparable across the bench's processes to about a millisecond):
// - every V8 garbage collection of at least 2 ms: { at, ms, what: 'scavenge' | 'mark-compact' | 'incremental' | … };
// - every event-loop turn late by at least 10 ms (a 5-ms interval timer that fired that much later than due):
//   { at, ms, what: 'loop' }, `at` being when the late turn began.
'use strict';
const { openSync, writeSync } = require('node:fs');
const { performance, PerformanceObserver, constants } = require('node:perf_hooks');

const file = process.env.STALL_LOG_FILE;
if (file) {
  const fd = openSync(file, 'a');
  const write = (at, ms, what) => writeSync(fd, `${JSON.stringify({ at: Math.round(at * 10) / 10, ms: Math.round(ms * 10) / 10, what })}\n`);
  const KINDS = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks',
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.duration >= 2) write(performance.timeOrigin + e.startTime, e.duration, KINDS[e.detail?.kind] ?? `gc-${e.detail?.kind}`);
  }).observe({ entryTypes: ['gc'] });
  const PERIOD = 5;
  let due = performance.now() + PERIOD;
  setInterval(() => {
    const now = performance.now();
    if (now - due >= 10) write(performance.timeOrigin + due, now - due, 'loop');
    due = now + PERIOD;
  }, PERIOD).unref();
}
