/**
 * Counts requests that fail authentication (no key, or an unknown or revoked one) per client IP, so that a
 * flood of bad keys is answered 429 instead of 401 for ever. Declared here, in the auth contract; the
 * throttling module provides it on the same counters as the rate limits (Redis when configured).
 */
export abstract class FailedAuthLimiter {
  /** Counts one failure from `ip`; returns the seconds to wait when the IP is over its limit, else 0. */
  abstract hit(ip: string): Promise<number>;
}
