import type { ThrottlerStorage } from '@nestjs/throttler';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** How often expired counters are dropped (keys without a valid API key are per IP: a flood makes many). */
const SWEEP_INTERVAL_MS = 10_000;

interface Window {
  hits: number;
  /** When this window ends (ms on the monotonic clock); the next hit after it opens a new one. */
  endsAt: number;
}

/**
 * Throttler counters in this process's memory (no REDIS_URL, or while Redis is down): the same fixed window as
 * RedisThrottlerStorage, so a limit behaves alike with and without Redis. The first hit opens a window of `ttl`;
 * hits past `limit` in it are refused until it ends, and the next window starts with the full limit.
 *
 * Replaces @nestjs/throttler's ThrottlerStorageService, which keeps one expiry time per hit (a sliding log) and
 * copies that whole list on every request: its cost per request grows with the client's limit (a client allowed
 * 60,000 a minute, at 1,000 a second, meant a 60,000-number array per request), and it put about a tenth of the
 * bytes the service promoted to V8's old heap at 100 starts/s. Here a hit is one counter increment.
 */
export class MemoryThrottlerStorage implements ThrottlerStorage {
  private readonly windows = new Map<string, Window>();
  private nextSweep = 0;

  /**
   * `now`: whole milliseconds on a clock that never steps back. The wall clock can (an NTP step, a VM resumed): a
   * window timed on it would then last an hour longer for a step of an hour, and refuse a client that long. Whole,
   * so that a window's seconds left come out as Redis's do (a fraction can round 60 s up to 61).
   */
  constructor(private readonly now: () => number = () => Math.floor(performance.now())) {}

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    const id = `${throttlerName}:${key}`;
    let window = this.windows.get(id);
    if (!window || window.endsAt <= now) {
      window = { hits: 0, endsAt: now + ttl };
      this.windows.set(id, window);
    }
    window.hits++;
    const seconds = Math.max(1, Math.ceil((window.endsAt - now) / 1000));
    const isBlocked = window.hits > limit;
    return { totalHits: window.hits, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
  }

  /** Counters held (tests). */
  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    for (const [id, window] of this.windows) if (window.endsAt <= now) this.windows.delete(id);
  }
}
