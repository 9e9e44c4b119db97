// CPU time the hypervisor gave to other guests while this virtual machine's processes were ready to run ("steal",
// the 8th figure of /proc/stat's cpu line). On a shared host it comes in spells: in one measured run on this 2-core
// machine a repetition's slowest requests (up to 641 ms) were sent in the two seconds in which about 40 % of both
// cores was stolen. The bench prints it beside each row so that a tail can be told from the host's.
// Where /proc/stat cannot be read (not Linux), every figure is NaN and no spell is reported.
'use strict';
const { readFileSync } = require('node:fs');
const { performance } = require('node:perf_hooks');

/**
 * The host's CPU ticks so far, all CPUs: { steal, idle, total } (idle: idle + I/O wait; total: user … steal; guest time
 * is already in user), or null.
 */
function cpuTicks() {
  try {
    const text = readFileSync('/proc/stat', 'utf8');
    const f = text.slice(0, text.indexOf('\n')).trim().split(/\s+/);
    if (f[0] !== 'cpu' || f.length < 9) return null;
    const v = f.slice(1, 9).map(Number);
    return { steal: v[7], idle: v[3] + v[4], total: v.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}

/** The share (0–1) of all CPU time between two cpuTicks() readings that was stolen; NaN without readings. */
function stolenShare(a, b) {
  if (!a || !b || b.total <= a.total) return NaN;
  return (b.steal - a.steal) / (b.total - a.total);
}

/** `fn`'s result with `steal`: the share of the host's CPU time stolen while it ran. */
async function withSteal(fn) {
  const before = cpuTicks();
  const r = await fn();
  return Object.assign(r, { steal: stolenShare(before, cpuTicks()) });
}

/**
 * Samples every `everyMs` (with `read`, cpuTicks unless a test gives its own) until stop(); spells() gives the
 * stretches in which at least `threshold` of the CPU time was stolen, merged when adjacent, as pauses { at (epoch ms),
 * ms, what: 'hypervisor steal N %' } (N: the spell's share).
 * /proc/stat counts in 10-ms ticks, so a 100-ms sample of 2 CPUs has 20 of them: a share is good to 5 %.
 */
function stealSpells({ everyMs = 100, threshold = 0.2, read = cpuTicks } = {}) {
  const spells = [];
  let last = read();
  let lastAt = performance.timeOrigin + performance.now();
  let open = null;
  const timer = setInterval(() => {
    const now = read();
    const at = performance.timeOrigin + performance.now();
    const share = stolenShare(last, now);
    if (share >= threshold) {
      if (open && open.to === lastAt) {
        open.steal += now.steal - last.steal;
        open.total += now.total - last.total;
        open.to = at;
      } else {
        open = { from: lastAt, to: at, steal: now.steal - last.steal, total: now.total - last.total };
        spells.push(open);
      }
    }
    last = now;
    lastAt = at;
  }, everyMs);
  timer.unref();
  return {
    spells: () => spells.map((s) => ({ at: s.from, ms: Math.round((s.to - s.from) * 10) / 10, what: `hypervisor steal ${Math.round((100 * s.steal) / s.total)} %` })),
    stop: () => clearInterval(timer),
  };
}

module.exports = { cpuTicks, stolenShare, withSteal, stealSpells };
