// The pauses a Node process's main thread sees, as JSON-able records { at, ms, what } with `at` in epoch milliseconds
// (performance timeOrigin + startTime, comparable across the bench's processes to about a millisecond):
// - every V8 garbage collection of at least 2 ms: what 'scavenge' | 'mark-compact' | 'incremental' | …;
// - every event-loop turn late by at least 10 ms (a 5-ms interval timer that fired that much later than due):
//   what 'loop', `at` being when the late turn began.
// As a preload for a bench target (bench/alone.js with BENCH_STALLS=1 adds `--require bench/stall-log.js`), it writes
// one JSON line per pause to STALL_LOG_FILE; bench/alone.js also calls watchPauses() in its own process (the load
// generator and the fake provider), whose pauses delay sends and answers as much as the target's do.
'use strict';
const { openSync, writeSync } = require('node:fs');
const { performance, PerformanceObserver, constants } = require('node:perf_hooks');

const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks',
};

/** Calls record({ at, ms, what }) for each pause of this process's main thread; returns a function that stops it. */
function watchPauses(record) {
  const pause = (at, ms, what) => record({ at: Math.round(at * 10) / 10, ms: Math.round(ms * 10) / 10, what });
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.duration >= 2) pause(performance.timeOrigin + e.startTime, e.duration, KINDS[e.detail?.kind] ?? `gc-${e.detail?.kind}`);
  });
  observer.observe({ entryTypes: ['gc'] });
  const PERIOD = 5;
  let due = performance.now() + PERIOD;
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - due >= 10) pause(performance.timeOrigin + due, now - due, 'loop');
    due = now + PERIOD;
  }, PERIOD).unref();
  return () => {
    observer.disconnect();
    clearInterval(timer);
  };
}

/** Calls record(JSON.parse(line)) for each line a child process's stream writes (the probes' records). */
function onJsonLines(stream, record) {
  let rest = '';
  stream.on('data', (d) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop();
    for (const l of lines) record(JSON.parse(l));
  });
}

const file = process.env.STALL_LOG_FILE;
if (file) {
  const fd = openSync(file, 'a');
  watchPauses((p) => writeSync(fd, `${JSON.stringify(p)}\n`));
}

module.exports = { watchPauses, onJsonLines };
