import type { ThrottlerStorage } from '@nestjs/throttler';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** How often expired counters are dropped (keys without a valid API key are per IP: a flood makes many). */
const SWEEP_INTERVAL_MS = 10_000;

/**
 * The most per-address counters held (about 270 bytes each with an IPv6 key, measured: some 13 MB). A flood from
 * many addresses within one window (a botnet, a /48's many /64s, a long THROTTLE_TTL_SECONDS) would otherwise grow
 * them until the window ends. API clients' counters are kept apart and never dropped: there are as many as clients.
 */
export const MAX_ADDRESS_COUNTERS = 50_000;

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
  /** Per API client, and per address: each in the order its current window opened (a Map keeps insertion order). */
  private readonly clients = new Map<string, Window>();
  private readonly addresses = new Map<string, Window>();
  private nextSweep = 0;
  private readonly maxAddresses: number;
  private readonly onDropped: (live: number) => void;

  /**
   * `now`: whole milliseconds on a clock that never steps back. The wall clock can (an NTP step, a VM resumed): a
   * window timed on it would then last an hour longer for a step of an hour, and refuse a client that long. Whole,
   * so that a window's seconds left come out as Redis's do (a fraction can round 60 s up to 61).
   * `onDropped`: told how many live per-address counters were dropped to stay within `maxAddresses`.
   */
  constructor(
    private readonly now: () => number = () => Math.floor(performance.now()),
    options: { maxAddresses?: number; onDropped?: (live: number) => void } = {},
  ) {
    this.maxAddresses = options.maxAddresses ?? MAX_ADDRESS_COUNTERS;
    this.onDropped = options.onDropped ?? (() => undefined);
  }

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    const id = `${throttlerName}:${key}`;
    // an API client's counter: ClientThrottlerGuard's key `<throttler>:client:<id>` (an address's is `…:ip:<unit>`)
    const windows = key.startsWith(`${throttlerName}:client:`) ? this.clients : this.addresses;
    let window = windows.get(id);
    if (!window || window.endsAt <= now) {
      if (window) windows.delete(id); // the new window goes to the back of the order
      else if (windows === this.addresses && windows.size >= this.maxAddresses) this.halveAddresses(now);
      window = { hits: 0, endsAt: now + ttl };
      windows.set(id, window);
    }
    window.hits++;
    const seconds = Math.max(1, Math.ceil((window.endsAt - now) / 1000));
    const isBlocked = window.hits > limit;
    return { totalHits: window.hits, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
  }

  /** Counters held (tests). */
  get size(): number {
    return this.clients.size + this.addresses.size;
  }

  private sweep(now: number): void {
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    for (const windows of [this.clients, this.addresses]) for (const [id, window] of windows) if (window.endsAt <= now) windows.delete(id);
  }

  /**
   * Full: the older half of the address counters goes, the oldest windows first (so ended ones before live ones),
   * in one pass: the work is paid once per half a cap of new addresses, not on every request. A live counter
   * dropped starts over at its owner's next request: during such a flood the per-address limits hold only roughly.
   */
  private halveAddresses(now: number): void {
    let drop = this.addresses.size - Math.floor(this.maxAddresses / 2);
    let live = 0;
    for (const [id, window] of this.addresses) {
      if (drop-- <= 0) break;
      this.addresses.delete(id);
      if (window.endsAt > now) live++;
    }
    if (live) this.onDropped(live);
  }
}
