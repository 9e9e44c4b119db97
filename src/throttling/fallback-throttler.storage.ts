import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type Redis from 'ioredis';
import { Counter, Gauge } from 'prom-client';
import { MAX_ADDRESS_COUNTERS, MemoryThrottlerStorage } from './memory-throttler.storage';
import { RedisThrottlerStorage } from './redis-throttler.storage';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * The rate limiter's counters: in Redis when REDIS_URL is set, so that limits hold across instances; in this
 * process's memory without it, and also while Redis cannot be used. A Redis outage must not take the service
 * down (issue 9, item 7): the limits then hold per process (the per-number limits live in PostgreSQL and hold
 * exactly all the same), one warning is logged per outage, `otp_throttle_redis_degraded` reads 1, and the
 * counters go back to Redis as soon as its connection is ready again.
 *
 * A request never waits on a dead Redis: while the connection is not ready the memory counters answer at once
 * (ioredis's offline queue is off), and a command that fails or times out on an open connection drops that
 * connection, so it is re-established in the background, and Redis is used again only once it is ready.
 */
export class FallbackThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger('Throttling');
  private readonly memory = new MemoryThrottlerStorage(undefined, {
    onDropped: (live) => {
      this.dropped.inc(live);
      this.logger.warn(
        `Rate-limit counters in memory are full (${MAX_ADDRESS_COUNTERS.toLocaleString('en')} addresses): ${live} live per-address counters dropped; per-address limits hold only roughly until the flood ends`,
      );
    },
  });
  private readonly remote: RedisThrottlerStorage | null;
  private degraded = false;
  private closing = false;
  /** The last connection error, named in the warning. */
  private lastError: string | undefined;

  readonly degradedGauge = new Gauge({
    name: 'otp_throttle_redis_degraded',
    help: '1 while REDIS_URL is set but Redis cannot be used, so rate limits are counted per process; else 0',
    registers: [],
  });
  readonly dropped = new Counter({
    name: 'otp_throttle_counters_dropped_total',
    help: 'Live per-address rate-limit counters dropped from process memory to stay within its cap (a flood from many addresses)',
    registers: [],
  });
  readonly fallbacks = new Counter({
    name: 'otp_throttle_redis_fallbacks_total',
    help: 'Rate-limit hits counted in process memory because Redis could not be used',
    registers: [],
  });

  constructor(private readonly redis: Redis | null) {
    this.remote = redis ? new RedisThrottlerStorage(redis) : null;
    this.degradedGauge.set(0);
    if (!redis) return;
    redis.on('ready', () => this.recover());
    // Also keeps ioredis from printing every failed reconnection attempt as an unhandled error.
    redis.on('error', (err: Error) => (this.lastError = err.message));
    redis.on('close', () => this.degrade(this.lastError ?? 'connection closed'));
  }

  /** The metrics of this storage, for the application's registry. */
  get metrics() {
    return [this.degradedGauge, this.fallbacks, this.dropped];
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    if (this.remote && this.redis) {
      if (!this.degraded && this.redis.status === 'ready') {
        try {
          return await this.remote.increment(key, ttl, limit, blockDuration, throttlerName);
        } catch (err) {
          this.degrade(err instanceof Error ? err.message : String(err));
          this.redis.disconnect(true); // reconnects in the background; 'ready' brings the counters back
        }
      } else {
        this.degrade(`connection ${this.redis.status}`);
      }
      this.fallbacks.inc();
    }
    return this.memory.increment(key, ttl, limit, blockDuration, throttlerName);
  }

  /** Stops reconnecting and closes the connection (application shutdown). */
  async close(): Promise<void> {
    if (!this.redis) return;
    this.closing = true;
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }

  private degrade(reason: string): void {
    if (this.degraded || this.closing) return;
    this.degraded = true;
    this.degradedGauge.set(1);
    this.logger.warn(
      `Redis is unavailable: rate limits are counted in this process until it returns, so they hold per instance, not across instances (${reason})`,
    );
  }

  private recover(): void {
    this.lastError = undefined;
    if (!this.degraded || this.closing) return;
    this.degraded = false;
    this.degradedGauge.set(0);
    this.logger.log('Redis is reachable again: rate limits are counted in Redis, across instances');
  }
}
