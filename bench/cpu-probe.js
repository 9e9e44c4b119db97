// What the benches' processes meet on the CPUs beyond their own pauses (BENCH_STALLS=1): startCpuProbes() runs this
// file as a child process per CPU, pinned to it (taskset) at real-time priority (chrt), and collects what they see
// as { at (epoch ms), ms, what }:
// - 'cpuN stall': a 1-ms sleep (Atomics.wait, a futex wait: not libuv's millisecond timers) that woke at least 2 ms
//   late. At real-time priority the probe preempts every ordinary task of the guest as soon as it wakes, so a late
//   wake-up is time in which the CPU ran no ordinary task of the guest: the hypervisor's (counted as steal or not),
//   or the kernel's own (interrupts, sections it cannot be preempted in).
// - '<kernel thread> ran': a spell of CPU time of a kernel thread that takes the CPU from the guest's processes on its
//   own schedule (the first probe watches them, from /proc/PID/schedstat at each wake-up): kdamond, the kernel's
//   DAMON, which this sandbox's kernel runs for proactive reclaim, took 1.6–2.8 ms every 0.51 s on this 2-core
//   virtual machine, idle (docs/performance-log.md, "The host's own rhythm: DAMON"). `ms` is the CPU time of the spell, and
//   [at, at + ms] the span the report overlaps with bursts: the spell's own span on the clock is as long or longer.
// The probes cost little (two processes waking 1,000 times a second here) but they do preempt the targets; real-time
// priority needs root or CAP_SYS_NICE.
'use strict';
const { spawn } = require('node:child_process');
const { readdirSync, readFileSync, writeSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { setImmediate } = require('node:timers');
const { onJsonLines } = require('./stall-log');

/** Kernel threads watched: those whose name starts with one of these. */
const KERNEL_THREADS = /^kdamond/;
const STALL_MS = 2;
/**
 * The kernel adds a running task's CPU time to its schedstat at each scheduler tick (every 4 ms at 250 Hz, 10 ms at
 * 100 Hz) and when it stops: so a spell ends only once nothing was added for longer than a tick.
 */
const SPELL_GAP_MS = 25;

/** CPU time (ns) a task has run so far, from /proc/PID/schedstat; NaN once it is gone. */
function runNs(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

/** [{ pid, name }] of the kernel threads watched on this host (none where /proc cannot be read). */
function watchedKernelThreads() {
  const found = [];
  try {
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        if (KERNEL_THREADS.test(name)) found.push({ pid, name });
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // not Linux
  }
  return found;
}

/**
 * Whether the kernel's DAMON runs here, as text for a bench's summary ('DAMON on: kdamond 0 samples every 500 ms'),
 * or null: its passes take a CPU on their own schedule, and under load for tens of ms. From its sysfs settings (root
 * only); where they cannot be read or show none on (DAMON's reclaim modules run their own), from its kernel threads.
 */
function damonState(root = '/sys/kernel/mm/damon/admin/kdamonds', threads = watchedKernelThreads()) {
  const running = threads.length ? `DAMON on: ${threads.map((t) => t.name).join(', ')} running` : null;
  const read = (...parts) => {
    try {
      return readFileSync(path.join(root, ...parts), 'utf8').trim();
    } catch {
      return null;
    }
  };
  let ids;
  try {
    ids = readdirSync(root).filter((d) => /^\d+$/.test(d));
  } catch {
    return running;
  }
  const on = ids.filter((id) => read(id, 'state') === 'on');
  if (!on.length) return running;
  const each = on.map((id) => {
    const us = Number(read(id, 'contexts', '0', 'monitoring_attrs', 'intervals', 'sample_us'));
    return `kdamond ${id}${us > 0 ? ` samples every ${us / 1000} ms` : ''}`;
  });
  return `DAMON on: ${each.join(', ')}`;
}

/** The probe itself: sleeps 1 ms at a time, forever, and writes one JSON line to stdout per record. */
function probe(label, threads) {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const emit = (at, ms, what) => writeSync(1, `${JSON.stringify({ at: Math.round(at * 10) / 10, ms: Math.round(ms * 10) / 10, what })}\n`);
  const last = threads.map((t) => runNs(t.pid));
  const spells = threads.map(() => null);
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  // the loop blocks this process's event loop: it yields to it every 100 wake-ups, so that SIGTERM and disconnect are seen
  const run = () => {
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      Atomics.wait(cell, 0, 0, 1);
      const now = performance.now();
      const late = now - t0 - 1;
      if (late >= STALL_MS) emit(performance.timeOrigin + t0 + 1, late, `${label} stall`);
      threads.forEach((t, k) => {
        const ns = runNs(t.pid);
        const ran = (ns - last[k]) / 1e6;
        last[k] = ns;
        if (ran > 0) {
          // it ran since the last wake-up: a spell begins (when it began, as near as the last wake-up tells) or goes on
          if (!spells[k]) spells[k] = { at: performance.timeOrigin + now - ran, ms: 0 };
          spells[k].ms += ran;
          spells[k].seen = now;
        } else if (spells[k] && now - spells[k].seen > SPELL_GAP_MS) {
          if (spells[k].ms >= STALL_MS / 2) emit(spells[k].at, spells[k].ms, `${t.name} ran`);
          spells[k] = null;
        }
      });
    }
    setImmediate(run);
  };
  run();
}

/**
 * Starts a probe per CPU (the first also watching the kernel threads) and collects their records. Without taskset or
 * chrt (or the right to use real-time priority) a probe exits at once: then there is none, and a warning says so.
 * Returns { pauses(), stop() }.
 */
function startCpuProbes() {
  const records = [];
  const threads = watchedKernelThreads();
  const children = os.cpus().map((_, cpu) => {
    const env = { PATH: process.env.PATH, CPU_PROBE_LABEL: `cpu${cpu}`, CPU_PROBE_THREADS: cpu === 0 ? JSON.stringify(threads) : '[]' };
    const child = spawn('chrt', ['-f', '50', 'taskset', '-c', String(cpu), process.execPath, path.join(__dirname, 'cpu-probe.js')], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let errors = '';
    child.stderr.on('data', (d) => (errors += d));
    onJsonLines(child.stdout, (r) => records.push(r));
    const warn = (why) =>
      process.stderr.write(`cpu${cpu} probe not running (${why}; chrt and taskset, and root or CAP_SYS_NICE, are needed): no CPU stalls or kernel threads in the report\n`);
    child.on('error', (err) => warn(err.message));
    child.on('exit', (code) => code && warn(`exit ${code}${errors.trim() ? `: ${errors.trim().split('\n')[0]}` : ''}`));
    return child;
  });
  return {
    pauses: () => [...records],
    stop: () => {
      for (const c of children) c.kill('SIGTERM');
    },
  };
}

if (require.main === module) probe(process.env.CPU_PROBE_LABEL || 'cpu', JSON.parse(process.env.CPU_PROBE_THREADS || '[]'));

module.exports = { startCpuProbes, damonState };
