/**
 * The bench's pause watcher (bench/stall-log.js): what bench/alone.js sets beside the slowest requests, from the target
 * (as a preload) and from its own process (the load generator and the fake provider).
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

interface Pause {
  at: number;
  ms: number;
  what: string;
}
const { watchPauses } = createRequire(__filename)('../bench/stall-log.js') as { watchPauses(record: (p: Pause) => void): () => void };

describe('bench: pauses of the main thread', () => {
  it('records an event-loop turn held up by synchronous work, when it began and for how long, and nothing once stopped', async () => {
    const pauses: Pause[] = [];
    const stop = watchPauses((p) => pauses.push(p));
    await sleep(20); // the 5-ms timer is running
    const blockedAt = performance.timeOrigin + performance.now();
    const until = performance.now() + 60;
    while (performance.now() < until); // the main thread busy for 60 ms
    await sleep(20);
    // the late turn that spans the middle of the block and began (the timer's due time) within a period of its start;
    // a test worker on a loaded machine has other late turns of its own (one of 13 ms just before the block was
    // seen), so only that one is looked at
    const middle = blockedAt + 30;
    const loops = pauses.filter((p) => p.what === 'loop' && p.at <= middle && p.at + p.ms >= middle && Math.abs(p.at - blockedAt) < 15);
    expect(loops).toHaveLength(1);
    expect(loops[0].ms).toBeGreaterThanOrEqual(45);
    expect(loops[0].ms).toBeLessThan(200);

    stop();
    const seen = pauses.length;
    const again = performance.now() + 40;
    while (performance.now() < again);
    await sleep(20);
    expect(pauses).toHaveLength(seen);
  });
});
