/**
 * The bench's reading of the hypervisor's steal (bench/host-steal.js): the share of CPU time stolen between two
 * readings of /proc/stat, and the spells of heavy steal that the tail reports of bench/alone.js set beside slow requests.
 */
import { createRequire } from 'node:module';

interface Ticks {
  steal: number;
  idle?: number;
  total: number;
}
const { cpuTicks, stolenShare, withSteal, stealSpells } = createRequire(__filename)('../bench/host-steal.js') as {
  cpuTicks(): Ticks | null;
  stolenShare(a: Ticks | null, b: Ticks | null): number;
  withSteal<T extends object>(fn: () => Promise<T>): Promise<T & { steal: number }>;
  stealSpells(o: { everyMs?: number; threshold?: number; read?: () => Ticks | null }): { spells(): { at: number; ms: number; what: string }[]; stop(): void };
};

describe('bench: host CPU steal', () => {
  it('reads the cpu line of /proc/stat on Linux: steal is part of the total and both only grow', async () => {
    const a = cpuTicks();
    if (process.platform !== 'linux') return expect(a).toBeNull();
    expect(a).toEqual({ steal: expect.any(Number), idle: expect.any(Number), total: expect.any(Number) });
    expect(a!.total).toBeGreaterThan(a!.steal);
    const r = await withSteal(async () => {
      const until = Date.now() + 50;
      while (Date.now() < until); // busy, so that ticks pass
      return { row: 1 };
    });
    expect(r.row).toBe(1);
    expect(r.steal).toBeGreaterThanOrEqual(0);
    expect(r.steal).toBeLessThanOrEqual(1);
    expect(cpuTicks()!.total).toBeGreaterThan(a!.total);
  });

  it('gives the stolen share of the CPU time between two readings, NaN without them', () => {
    expect(stolenShare({ steal: 10, total: 100 }, { steal: 30, total: 200 })).toBeCloseTo(0.2);
    expect(stolenShare(null, { steal: 30, total: 200 })).toBeNaN();
    expect(stolenShare({ steal: 10, total: 100 }, { steal: 10, total: 100 })).toBeNaN();
  });

  it('reports spells of steal at or above the threshold, adjacent samples merged into one with its own share', async () => {
    // each sample adds 20 ticks; steal per sample: 0, 10 (50 %), 4 (20 %), 0, 2 (10 %), 8 (40 %), then none
    const steals = [0, 10, 4, 0, 2, 8];
    let i = 0;
    let t = { steal: 0, total: 0 };
    const read = () => {
      const s = i < steals.length ? steals[i] : 0;
      i++;
      t = { steal: t.steal + s, total: t.total + 20 };
      return t;
    };
    const watch = stealSpells({ everyMs: 5, threshold: 0.2, read });
    while (i < steals.length + 3) await new Promise((r) => setTimeout(r, 5));
    watch.stop();
    const spells = watch.spells();
    // samples 1–2 (14 of 40 ticks) and sample 5 (8 of 20); the first reading is the baseline
    expect(spells.map((s) => s.what)).toEqual(['hypervisor steal 35 %', 'hypervisor steal 40 %']);
    expect(spells[0].ms).toBeGreaterThan(0);
    expect(spells[1].at).toBeGreaterThan(spells[0].at + spells[0].ms - 1);
  });
});
