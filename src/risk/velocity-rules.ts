import type { PumpingConfig } from '../config/app-config';

/**
 * The arithmetic of the velocity, pumping and many-accounts rules, kept pure so that a unit spec covers it.
 * Counters live in 10-minute buckets (`risk_unit_counts`): a bucket starting at `b` counts towards "the last
 * hour" while `b > now - 1 h`, so the windows are 50 to 60 minutes (and 23 h 50 to 24 h) long, and a count
 * leaves its window at `b + 1 h` exactly.
 */
export const BUCKET_MS = 10 * 60_000;
export const HOUR_MS = 3600_000;
export const DAY_MS = 24 * HOUR_MS;

export const bucketOf = (t: number): number => Math.floor(t / BUCKET_MS) * BUCKET_MS;

/** The units a start is counted and judged by. */
export type UnitKind = 'prefix' | 'country' | 'ip' | 'device' | 'client';
/** The units the pumping rules may suspend. */
export type PumpingUnitKind = 'prefix' | 'country' | 'ip';
export const PUMPING_KINDS: readonly UnitKind[] = ['prefix', 'country', 'ip'];

export interface Unit {
  kind: UnitKind;
  value: string;
}

/** A number's prefix: its first `length` digits without the `+` (`+819012345678`, 8 → `81901234`). */
export function numberPrefix(e164: string, length: number): string {
  return e164.replace(/^\+/, '').slice(0, length);
}

/** Starts per 10-minute bucket of one unit within the last hour. */
export interface BucketCount {
  at: number;
  started: number;
}

/**
 * Whether one more start would exceed `limit` starts in the last hour, and if so how long until it would
 * not: the time at which enough of the oldest buckets have left the window. `buckets` are the unit's buckets
 * within the window, before this start.
 */
export function hourlyLimitExceeded(buckets: BucketCount[], limit: number, now: number): { count: number; retryAfterMs: number } | undefined {
  const inWindow = buckets.filter((b) => b.at > now - HOUR_MS).sort((a, b) => a.at - b.at);
  const count = inWindow.reduce((n, b) => n + b.started, 0);
  if (count < limit) return undefined;
  let left = count;
  for (const b of inWindow) {
    left -= b.started;
    if (left < limit) return { count, retryAfterMs: Math.max(1000, b.at + HOUR_MS - now) };
  }
  return { count, retryAfterMs: HOUR_MS }; // not reached: the loop empties the window
}

/** What the pumping rules judge a unit by (counts from risk_unit_counts and risk_unit_days). */
export interface PumpingFigures {
  /** Starts and verified codes in the last 24 h and the last hour, counted since the unit's last suspension ended. */
  started24h: number;
  verified24h: number;
  started1h: number;
  verified1h: number;
  /** Verified codes in the last 24 h and the last hour, whatever the suspensions. */
  verifiedLast24h: number;
  verifiedLastHour: number;
  /** The 14-day maxima of the unit's verified codes per UTC day and per hour. */
  maxDailyVerified14d: number;
  maxHourlyVerified14d: number;
}

export interface PumpingTrip {
  window: '24h' | '1h';
  /** Codes sent and not verified in the window, this start included. */
  unverified: number;
  threshold: number;
}

/**
 * The pumping rules, judged as if this start were counted (so the start that crosses a threshold trips it):
 * - daily: unverified codes in 24 h > max(daily floor, ratio × the 14-day maximum of daily verified, ratio ×
 *   verified in the last 24 h);
 * - hourly: unverified codes in the last hour > max(hourly floor, ratio × the 14-day maximum of hourly verified,
 *   ratio × verified in the last hour).
 * "Unverified" is started minus verified in the window (a code verified in the window but started before it
 * lowers it: the figure errs towards not tripping).
 */
export function pumpingTrip(f: PumpingFigures, c: Pick<PumpingConfig, 'dailyFloor' | 'hourlyFloor' | 'ratio'>): PumpingTrip | undefined {
  const daily = Math.max(c.dailyFloor, c.ratio * f.maxDailyVerified14d, c.ratio * f.verifiedLast24h);
  const unverified24h = Math.max(0, f.started24h + 1 - f.verified24h);
  if (unverified24h > daily) return { window: '24h', unverified: unverified24h, threshold: round(daily) };
  const hourly = Math.max(c.hourlyFloor, c.ratio * f.maxHourlyVerified14d, c.ratio * f.verifiedLastHour);
  const unverified1h = Math.max(0, f.started1h + 1 - f.verified1h);
  if (unverified1h > hourly) return { window: '1h', unverified: unverified1h, threshold: round(hourly) };
  return undefined;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** Which clients and accounts a number was verified for in the window (risk_number_accounts). */
export interface NumberAccounts {
  /** Distinct (client, account reference) pairs. */
  accounts: number;
  clients: number;
  /** Whether this start's account (client and reference) and client are among them. */
  sameAccount: boolean;
  sameClient: boolean;
}

/**
 * Many accounts per number: verified for more than `max` distinct accounts or clients, counting the account
 * and client of this start as if it were verified too. A number verified again and again for the same
 * accounts never trips it.
 */
export function manyAccounts(a: NumberAccounts, hasAccountRef: boolean, max: number): { accounts: number; clients: number; max: number } | undefined {
  const accounts = a.accounts + (hasAccountRef && !a.sameAccount ? 1 : 0);
  const clients = a.clients + (a.sameClient ? 0 : 1);
  return accounts > max || clients > max ? { accounts, clients, max } : undefined;
}
