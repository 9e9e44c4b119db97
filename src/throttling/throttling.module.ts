import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import Redis from 'ioredis';
import { FailedAuthLimiter } from '../common/auth';
import { AppConfig } from '../config/app-config';
import { FailedAuthThrottle } from './failed-auth.throttle';
import { RedisThrottlerStorage } from './redis-throttler.storage';

export const THROTTLER_REDIS = Symbol('THROTTLER_REDIS');

/** Rate-limit counters: in Redis when REDIS_URL is set (limits hold across instances), in memory otherwise. */
@Module({
  providers: [
    {
      provide: THROTTLER_REDIS,
      inject: [AppConfig],
      useFactory: (config: AppConfig) =>
        config.throttle.redisUrl ? new Redis(config.throttle.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true }) : null,
    },
  ],
  exports: [THROTTLER_REDIS],
})
class ThrottlerRedisModule implements OnApplicationShutdown {
  constructor(@Inject(THROTTLER_REDIS) private readonly redis: Redis | null) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis?.quit().catch(() => undefined);
  }
}

/** Also provides the auth contract's FailedAuthLimiter (global), on the same storage. */
@Global()
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [ThrottlerRedisModule],
      inject: [AppConfig, THROTTLER_REDIS],
      useFactory: (config: AppConfig, redis: Redis | null) => ({
        throttlers: [{ name: 'default', limit: config.throttle.limit, ttl: config.throttle.ttlMs }],
        storage: redis ? new RedisThrottlerStorage(redis) : undefined,
      }),
    }),
  ],
  providers: [FailedAuthThrottle, { provide: FailedAuthLimiter, useExisting: FailedAuthThrottle }],
  exports: [ThrottlerModule, FailedAuthLimiter],
})
export class ThrottlingModule {}
