import Redis from 'ioredis';
import { MemoryThrottlerStorage } from './memory-throttler.storage';
import { RedisThrottlerStorage } from './redis-throttler.storage';

const MINUTE = 60_000;

describe('MemoryThrottlerStorage (rate limits without Redis)', () => {
  let now: number;
  let storage: MemoryThrottlerStorage;
  const hit = (key = 'client:a', limit = 3) => storage.increment(key, MINUTE, limit, MINUTE, 'default');

  beforeEach(() => {
    now = Date.UTC(2026, 11, 3, 9, 0, 0);
    storage = new MemoryThrottlerStorage(() => now);
  });

  it('admits the limit per window, refuses past it with the seconds left in the window, per key', async () => {
    expect(await hit()).toEqual({ totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
    now += 1_000;
    await hit();
    now += 1_000;
    expect((await hit()).isBlocked).toBe(false);
    now += 500;
    // 2.5 s into the window: 57.5 s left, rounded up
    expect(await hit()).toEqual({ totalHits: 4, timeToExpire: 58, isBlocked: true, timeToBlockExpire: 58 });
    expect((await hit('client:b')).isBlocked).toBe(false);
    // throttler names are separate budgets for the same key
    expect((await storage.increment('client:a', MINUTE, 3, MINUTE, 'auth_failures')).totalHits).toBe(1);
  });

  it('gives the whole limit back when the window ends, as the Redis counters do (a sliding log would still hold two hits)', async () => {
    for (let i = 0; i < 3; i++) {
      await hit();
      now += 1_000;
    }
    expect((await hit()).isBlocked).toBe(true);
    now = Date.UTC(2026, 11, 3, 9, 1, 0); // the first hit's window has just ended
    const next = [await hit(), await hit(), await hit(), await hit()];
    expect(next.map((r) => r.isBlocked)).toEqual([false, false, false, true]);
    expect(next[0]).toMatchObject({ totalHits: 1, timeToExpire: 60 });
  });

  it('never refuses while under the limit, however many hits the window holds (a payment backend at its own limit)', async () => {
    const limit = 120_000; // 2,000 a second
    let last;
    for (let i = 0; i < limit; i++) last = await storage.increment('client:big', MINUTE, limit, MINUTE, 'default');
    expect(last).toMatchObject({ totalHits: limit, isBlocked: false });
    expect((await storage.increment('client:big', MINUTE, limit, MINUTE, 'default')).isBlocked).toBe(true);
  });

  it('drops the counters of ended windows (a flood of bad keys from many addresses does not stay in memory)', async () => {
    for (let i = 0; i < 1_000; i++) await hit(`ip:10.0.${i >> 8}.${i & 255}`);
    expect(storage.size).toBe(1_000);
    now += MINUTE + 10_000;
    await hit('ip:192.0.2.1');
    expect(storage.size).toBe(1);
  });

  describe('a flood from more addresses than its cap within one window', () => {
    let dropped: number[];
    let small: MemoryThrottlerStorage;
    const at = (key: string) => small.increment(key, MINUTE, 3, MINUTE, 'default');
    beforeEach(() => {
      dropped = [];
      small = new MemoryThrottlerStorage(() => now, { maxAddresses: 100, onDropped: (live) => dropped.push(live) });
    });

    it('holds at most the cap of address counters: the older half goes, the oldest windows first, and the drop is told', async () => {
      for (let i = 0; i < 3; i++) await at('ip:192.0.2.1'); // the oldest counter, at its limit
      for (let i = 0; i < 1_000; i++) await at(`ip:10.0.${i >> 8}.${i & 255}`);
      expect(small.size).toBe(51); // halved to 50 each time it reached 100, then the new one
      expect(dropped.reduce((a, b) => a + b, 0)).toBe(1_001 - small.size);
      // the oldest started over; one of the last is still counted
      expect(await at('ip:192.0.2.1')).toMatchObject({ totalHits: 1 });
      expect(await at('ip:10.0.3.231')).toMatchObject({ totalHits: 2 });
    });

    it('keeps API clients\' counters whatever the flood, and counts a client-like address among the addresses', async () => {
      for (let i = 0; i < 3; i++) await at('default:client:a');
      for (let i = 0; i < 1_000; i++) await at(`default:ip:10.0.${i >> 8}.${i & 255}`);
      expect(await at('default:client:a')).toMatchObject({ totalHits: 4, isBlocked: true });
      for (let i = 0; i < 1_000; i++) await at(`default:ip:a:client:${i}`);
      expect(small.size).toBeLessThanOrEqual(101);
    });

    it('drops ended windows before live ones, and a counter whose window opened again counts as new', async () => {
      const short = (key: string) => small.increment(key, 5_000, 3, 5_000, 'default');
      for (let i = 0; i < 60; i++) await short(`ip:10.1.0.${i}`); // 5 s windows (the sweep ran at the first hit)
      now += 1_000;
      await at('ip:192.0.2.1'); // live, opened after those
      now += 5_000; // the 60 have ended; the next sweep is 4 s away
      await at('ip:10.1.0.0'); // its window opens again: it is now among the newest
      for (let i = 0; i < 39; i++) await at(`ip:10.2.0.${i}`);
      expect(small.size).toBe(100);
      await at('ip:10.3.0.1'); // one more: the older half goes
      expect(small.size).toBe(51);
      expect(dropped).toEqual([]); // all 50 dropped had ended
      expect(await at('ip:192.0.2.1')).toMatchObject({ totalHits: 2 });
      expect(await at('ip:10.1.0.0')).toMatchObject({ totalHits: 2 });
    });
  });

  it('by default times its windows on a clock that does not step back with the wall clock', async () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 11, 7, 9, 0, 0) });
    try {
      const own = new MemoryThrottlerStorage();
      const at = () => own.increment('client:a', MINUTE, 1, MINUTE, 'default');
      await at();
      jest.setSystemTime(Date.now() - 3_600_000); // the wall clock goes back an hour
      // still refused for what is left of the minute, not for an hour and a minute
      expect(await at()).toMatchObject({ isBlocked: true, timeToExpire: 60 });
      jest.advanceTimersByTime(MINUTE);
      expect(await at()).toMatchObject({ totalHits: 1, isBlocked: false });
    } finally {
      jest.useRealTimers();
    }
  });

  const redisUrl = process.env.TEST_REDIS_URL;
  // Needs a Redis server; CI sets TEST_REDIS_URL (see .ci/run). Without one the test is reported as skipped.
  (redisUrl ? it : it.skip)('answers a sequence of hits exactly as the Redis counters do', async () => {
    const redis = new Redis(redisUrl as string, { lazyConnect: true });
    await redis.connect();
    try {
      const remote = new RedisThrottlerStorage(redis);
      const memory = new MemoryThrottlerStorage();
      const key = `spec-${process.pid}-${Date.now()}`;
      const fromRedis = [];
      const fromMemory = [];
      for (let i = 0; i < 6; i++) {
        fromRedis.push(await remote.increment(key, MINUTE, 4, MINUTE, 'default'));
        fromMemory.push(await memory.increment(key, MINUTE, 4, MINUTE, 'default'));
      }
      expect(fromMemory).toEqual(fromRedis);
      expect(fromMemory.map((r) => r.isBlocked)).toEqual([false, false, false, false, true, true]);
      await redis.del(`otp:throttle:default:${key}`);
    } finally {
      redis.disconnect();
    }
  });
});
