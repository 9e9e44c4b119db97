// Child process of bench/alone.js (BENCH_STALLS=1): what a commit's WAL flush would meet on the disk. Every 10 ms it
// writes 8 KiB to a file in FSYNC_PROBE_DIR and fdatasyncs it (as PostgreSQL's default wal_sync_method does), and
// writes one JSON line to stdout for each flush of at least 5 ms: { at (epoch ms), ms, what: 'fdatasync' }. Its own
// process, so that a slow flush blocks nobody else.
'use strict';
const { openSync, writeSync, fdatasyncSync, unlinkSync } = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const file = path.join(process.env.FSYNC_PROBE_DIR, `bench-fsync-probe-${process.pid}`);
const fd = openSync(file, 'w');
const block = Buffer.alloc(8192, 7);
const timer = setInterval(() => {
  const t0 = performance.now();
  writeSync(fd, block, 0, block.length, 0);
  fdatasyncSync(fd);
  const ms = performance.now() - t0;
  if (ms >= 5) process.stdout.write(`${JSON.stringify({ at: Math.round((performance.timeOrigin + t0) * 10) / 10, ms: Math.round(ms * 10) / 10, what: 'fdatasync' })}\n`);
}, 10);
const stop = () => {
  clearInterval(timer);
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
