import { SendRateRepository } from './send-rate.repository';

/** Whether a provider may be called now for this channel; waits for a free slot until `deadline` (performance.now()'s ms). */
export interface SendRateLimiter {
  acquire(provider: string, channel: 'sms' | 'voice', deadline: number): Promise<boolean>;
}

/** No limits (unit specs, and providers with none configured). */
export const UNLIMITED: SendRateLimiter = { acquire: async () => true };

/**
 * Per-provider send rates shared by every instance, counted in PostgreSQL (one row per provider and channel,
 * a window of one second). PostgreSQL rather than Redis: it is always there (Redis is optional and owned by
 * the throttling module, which the gateway may not import), it is exact across instances, and the limited
 * sends are few (voice calls: 1 to 3 per second). A full second is waited out, while the send's budget lasts.
 */
export class PostgresSendRateLimiter implements SendRateLimiter {
  constructor(
    private readonly repo: SendRateRepository,
    /** Sends per second per `provider.channel`; absent: unlimited. */
    private readonly limits: Record<string, number>,
  ) {}

  async acquire(provider: string, channel: 'sms' | 'voice', deadline: number): Promise<boolean> {
    const limit = this.limits[`${provider}.${channel}`];
    if (!limit) return true;
    for (;;) {
      if (await this.repo.take(provider, channel, limit)) return true;
      // The next window starts at the next full second; a little jitter spreads the instances that wait for it.
      const wait = 1000 - (Date.now() % 1000) + Math.floor(Math.random() * 20);
      if (performance.now() + wait >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
