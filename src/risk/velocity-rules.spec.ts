import { BUCKET_MS, bucketOf, HOUR_MS, hourlyLimitExceeded, manyAccounts, numberPrefix, PumpingFigures, pumpingTrip } from './velocity-rules';

const NOW = Date.parse('2026-11-24T12:34:56.000Z');
const settings = { dailyFloor: 20, hourlyFloor: 10, ratio: 0.2 };
const quiet: PumpingFigures = {
  started24h: 0,
  verified24h: 0,
  started1h: 0,
  verified1h: 0,
  verifiedLast24h: 0,
  verifiedLastHour: 0,
  maxDailyVerified14d: 0,
  maxHourlyVerified14d: 0,
};

describe('units', () => {
  it('a prefix is the first digits of E.164 without +', () => {
    expect(numberPrefix('+819012345678', 8)).toBe('81901234');
    expect(numberPrefix('+14155552671', 4)).toBe('1415');
  });

  it('buckets are 10 minutes', () => {
    expect(new Date(bucketOf(NOW)).toISOString()).toBe('2026-11-24T12:30:00.000Z');
  });
});

describe('hourly start limit', () => {
  const at = (minutesAgo: number, started: number) => ({ at: bucketOf(NOW - minutesAgo * 60_000), started });

  it('passes below the limit, and counts only buckets of the last hour', () => {
    expect(hourlyLimitExceeded([at(0, 4), at(30, 5)], 10, NOW)).toBeUndefined();
    // the bucket that started 70 minutes ago has left the window
    expect(hourlyLimitExceeded([at(70, 50), at(0, 9)], 10, NOW)).toBeUndefined();
  });

  it('trips at the limit, and says when the oldest starts leave the window', () => {
    const over = hourlyLimitExceeded([at(40, 6), at(10, 3), at(0, 1)], 10, NOW);
    expect(over).toBeDefined();
    expect(over!.count).toBe(10);
    // the 6 of 40 minutes ago (bucket 11:50) leave at 12:50: 4 left, below 10
    expect(NOW + over!.retryAfterMs).toBe(Date.parse('2026-11-24T12:50:00.000Z'));
  });

  it('waits for as many buckets as needed', () => {
    const over = hourlyLimitExceeded([at(50, 2), at(40, 2), at(0, 8)], 10, NOW);
    // removing 11:40 (2) leaves 10: still at the limit; removing 11:50 too leaves 8
    expect(NOW + over!.retryAfterMs).toBe(bucketOf(NOW - 40 * 60_000) + HOUR_MS);
  });

  it('a bucket counts while it started less than an hour ago', () => {
    const b = bucketOf(NOW) - 5 * BUCKET_MS; // 11:40, the oldest bucket in the window at 12:34
    expect(hourlyLimitExceeded([{ at: b, started: 10 }], 10, NOW)).toBeDefined();
    expect(hourlyLimitExceeded([{ at: b, started: 10 }], 10, b + HOUR_MS)).toBeUndefined();
  });
});

describe('pumping thresholds', () => {
  it('a quiet unit passes; the floor is what trips a unit with no verified volume (counting this start)', () => {
    expect(pumpingTrip(quiet, settings)).toBeUndefined();
    expect(pumpingTrip({ ...quiet, started24h: 9, started1h: 9 }, settings)).toBeUndefined(); // 10 unverified: not more than 10
    expect(pumpingTrip({ ...quiet, started24h: 10, started1h: 10 }, settings)).toEqual({ window: '1h', unverified: 11, threshold: 10 });
    expect(pumpingTrip({ ...quiet, started24h: 20, started1h: 0 }, settings)).toEqual({ window: '24h', unverified: 21, threshold: 20 });
  });

  it('verified codes are not unverified', () => {
    expect(pumpingTrip({ ...quiet, started24h: 40, verified24h: 30, started1h: 12, verified1h: 5 }, settings)).toBeUndefined();
  });

  it('a unit with a large verified volume may have proportionally more unverified codes', () => {
    const busy = { ...quiet, maxDailyVerified14d: 1000, maxHourlyVerified14d: 120, verifiedLast24h: 800, verifiedLastHour: 40 };
    // 150 unverified in a day: under 0.2 × 1000
    expect(pumpingTrip({ ...busy, started24h: 949, verified24h: 800, started1h: 30, verified1h: 40 }, settings)).toBeUndefined();
    // 201 in a day: over it
    expect(pumpingTrip({ ...busy, started24h: 1000, verified24h: 800, started1h: 30, verified1h: 40 }, settings)).toEqual({ window: '24h', unverified: 201, threshold: 200 });
    // hourly: 0.2 × the 14-day maximum of hourly verified (120) = 24
    expect(pumpingTrip({ ...busy, started24h: 800, verified24h: 800, started1h: 63, verified1h: 40 }, settings)).toBeUndefined();
    expect(pumpingTrip({ ...busy, started24h: 800, verified24h: 800, started1h: 64, verified1h: 40 }, settings)).toEqual({ window: '1h', unverified: 25, threshold: 24 });
  });

  it('recent verified volume counts when above the 14-day maxima', () => {
    const f = { ...quiet, verifiedLast24h: 500, started24h: 99, verified24h: 0 };
    expect(pumpingTrip(f, settings)).toBeUndefined(); // 100 unverified: 0.2 × 500
    expect(pumpingTrip({ ...f, started24h: 100 }, settings)).toMatchObject({ window: '24h', threshold: 100 });
  });
});

describe('many accounts per number', () => {
  const none = { accounts: 0, clients: 0, sameAccount: false, sameClient: false };

  it('a number verified for up to the maximum of accounts and clients passes', () => {
    expect(manyAccounts(none, true, 3)).toBeUndefined();
    expect(manyAccounts({ accounts: 2, clients: 1, sameAccount: false, sameClient: true }, true, 3)).toBeUndefined(); // a third account
  });

  it('the same account again and again never trips it', () => {
    expect(manyAccounts({ accounts: 3, clients: 3, sameAccount: true, sameClient: true }, true, 3)).toBeUndefined();
  });

  it('one more account or client than the maximum trips it', () => {
    expect(manyAccounts({ accounts: 3, clients: 1, sameAccount: false, sameClient: true }, true, 3)).toEqual({ accounts: 4, clients: 1, max: 3 });
    expect(manyAccounts({ accounts: 0, clients: 3, sameAccount: false, sameClient: false }, false, 3)).toEqual({ accounts: 0, clients: 4, max: 3 });
    // no account reference: the accounts do not grow
    expect(manyAccounts({ accounts: 3, clients: 1, sameAccount: false, sameClient: true }, false, 3)).toBeUndefined();
  });
});
