/**
 * The bench's tail report (bench/stall-report.js): what `bench/alone.js` and `npm run bench` print, with BENCH_STALLS=1,
 * after a repetition: its slowest 1 % in bursts, each with the pauses that overlapped it.
 */
import { createRequire } from 'node:module';

interface Pause {
  at: number;
  ms: number;
  what: string;
}
const { stallReport, overlapping } = createRequire(__filename)('../bench/stall-report.js') as {
  stallReport(requests: Array<[number, number]>, pauses: Pause[]): string;
  overlapping(pauses: Pause[], from: number, to: number): Pause[];
};

describe('bench: the p99 tail beside the pauses', () => {
  const T0 = 1_800_000_000_000;
  // 1,000 requests 10 ms apart, 3 ms each, but two bursts: 5 of 40 ms sent 2.00–2.04 s in (during a 30-ms mark-compact
  // that began at 1.99 s) and 5 of 30 ms sent 7.00–7.04 s in, with nothing recorded then
  const requests: Array<[number, number]> = Array.from({ length: 1000 }, (_, i) => {
    const at = T0 + i * 10;
    const slow = (i >= 200 && i < 205 && 40) || (i >= 700 && i < 705 && 30) || 3;
    return [slow, at];
  });
  const pauses: Pause[] = [
    { at: T0 + 1990, ms: 30, what: 'svc mark-compact' },
    { at: T0 + 5000, ms: 4, what: 'svc scavenge' },
  ];

  it('groups the slowest 1 % into bursts and names the pauses each overlapped', () => {
    const lines = stallReport(requests, pauses).split('\n');
    expect(lines[0]).toBe(
      '  pauses in it: svc mark-compact ×1 (max 30.0 ms; in 1 of 2 bursts, 0.0 by chance), svc scavenge ×1 (max 4.0 ms; in 0 of 2 bursts, 0.0 by chance)',
    );
    expect(lines[1]).toBe('  p99 tail: 10 requests of 30.0 ms or more, in 2 burst(s); 5 of them overlapped a pause:');
    expect(lines[2]).toBe('    @2.00 s: 5 request(s) up to 40 ms; svc mark-compact 30.0 ms');
    expect(lines[3]).toBe('    @7.00 s: 5 request(s) up to 30 ms; no pause seen');
    expect(lines).toHaveLength(4);
  });

  it('says how many bursts a kind of pause would overlap by chance', () => {
    // a kernel thread that runs 10 ms every 100 ms overlaps both bursts, as windows of 130 and 120 ms (each burst's,
    // from 50 ms before its first send to its last answer) would anywhere in the repetition
    const often = Array.from({ length: 100 }, (_, i) => ({ at: T0 + i * 100, ms: 10, what: 'kdamond.0 ran' }));
    const [first] = stallReport(requests, [...pauses, ...often]).split('\n');
    expect(first).toContain('kdamond.0 ran ×100 (max 10.0 ms; in 2 of 2 bursts, 2.0 by chance)');
    expect(first).toContain('svc mark-compact ×1 (max 30.0 ms; in 1 of 2 bursts, 0.0 by chance)');
  });

  it('leaves out the pauses recorded outside the repetition', () => {
    const before = { at: T0 - 500, ms: 20, what: 'svc mark-compact' };
    const after = { at: T0 + 12_000, ms: 20, what: 'load generator mark-compact' };
    expect(stallReport(requests, [before, ...pauses, after])).toBe(stallReport(requests, pauses));
  });

  it('keeps the pauses that overlap a span, and only those', () => {
    expect(overlapping(pauses, T0 + 2015, T0 + 2100).map((p) => p.what)).toEqual(['svc mark-compact']);
    expect(overlapping(pauses, T0 + 2021, T0 + 4999)).toEqual([]);
    expect(overlapping(pauses, T0 + 5004, T0 + 6000).map((p) => p.what)).toEqual(['svc scavenge']);
  });
});
