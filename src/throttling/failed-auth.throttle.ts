import { Injectable } from '@nestjs/common';
import { InjectThrottlerStorage, ThrottlerStorage } from '@nestjs/throttler';
import { FailedAuthLimiter } from '../common/auth';
import { limitUnit } from '../common/ip-unit';
import { AppConfig } from '../config/app-config';

/** Failed authentications per IP (an IPv6 address by its /64), counted in the throttler's storage (shared across instances with Redis). */
@Injectable()
export class FailedAuthThrottle implements FailedAuthLimiter {
  constructor(
    @InjectThrottlerStorage() private readonly storage: ThrottlerStorage,
    private readonly config: AppConfig,
  ) {}

  async hit(ip: string): Promise<number> {
    const { authFailuresLimit, ttlMs } = this.config.throttle;
    const record = await this.storage.increment(`auth-failures:ip:${limitUnit(ip)}`, ttlMs, authFailuresLimit, ttlMs, 'auth_failures');
    return record.totalHits > authFailuresLimit ? Math.max(1, record.timeToBlockExpire || record.timeToExpire) : 0;
  }
}
