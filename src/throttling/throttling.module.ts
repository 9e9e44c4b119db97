import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import Redis from 'ioredis';
import { FailedAuthLimiter } from '../common/auth';
import { AppConfig } from '../config/app-config';
import { FailedAuthThrottle } from './failed-auth.throttle';
import { FallbackThrottlerStorage } from './fallback-throttler.storage';

/**
 * How long a request may wait on Redis. A dead Redis costs nothing (no offline queue: the memory counters
 * answer at once); these bound a Redis that accepts connections but does not answer.
 */
const REDIS_CONNECT_TIMEOUT_MS = 1000;
const REDIS_COMMAND_TIMEOUT_MS = 500;

/** The Redis connection (REDIS_URL), or null; reconnects in the background for as long as the service runs. */
async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    disconnectTimeout: 500, // at shutdown, a socket that never closes is destroyed after this
  });
  // Wait for the first connection (or its first failure), so that a healthy start counts in Redis from the
  // first request; an unreachable Redis delays the start by at most about a second, and never stops it.
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done).off('error', done);
      resolve();
    };
    const timer = setTimeout(done, REDIS_CONNECT_TIMEOUT_MS + REDIS_COMMAND_TIMEOUT_MS);
    redis.once('ready', done).once('error', done);
  });
  return redis;
}

/** Rate-limit counters: in Redis when REDIS_URL is set (limits hold across instances), in memory otherwise or while Redis is down. */
@Module({
  providers: [
    {
      provide: FallbackThrottlerStorage,
      inject: [AppConfig],
      useFactory: async (config: AppConfig) => new FallbackThrottlerStorage(config.throttle.redisUrl ? await connectRedis(config.throttle.redisUrl) : null),
    },
  ],
  exports: [FallbackThrottlerStorage],
})
class ThrottlerStorageModule implements OnApplicationShutdown {
  constructor(@Inject(FallbackThrottlerStorage) private readonly storage: FallbackThrottlerStorage) {}
  async onApplicationShutdown(): Promise<void> {
    await this.storage.close();
  }
}

/** Also provides the auth contract's FailedAuthLimiter (global), on the same storage. */
@Global()
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [ThrottlerStorageModule],
      inject: [AppConfig, FallbackThrottlerStorage],
      useFactory: (config: AppConfig, storage: FallbackThrottlerStorage) => ({
        throttlers: [{ name: 'default', limit: config.throttle.limit, ttl: config.throttle.ttlMs }],
        storage,
      }),
    }),
  ],
  providers: [FailedAuthThrottle, { provide: FailedAuthLimiter, useExisting: FailedAuthThrottle }],
  exports: [ThrottlerModule, FailedAuthLimiter],
})
export class ThrottlingModule {}
