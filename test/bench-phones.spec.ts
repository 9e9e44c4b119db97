/**
 * The numbers a bench sends codes to (bench/load.js, benchPhone): Japanese mobiles the service takes, spread over so
 * many prefixes that a run's starts never make one look like SMS pumping (the rule trips past 10 unverified starts
 * of a prefix in an hour: RISK_PUMPING_HOURLY_FLOOR), so that the service does no more per start than the floor.
 */
import { createRequire } from 'node:module';
import { parseNumber } from '../src/risk/phone-numbers';
import { numberPrefix } from '../src/risk/velocity-rules';

const { benchPhone } = createRequire(__filename)('../bench/load.js') as { benchPhone(n: number): string };

describe('bench: the numbers it sends codes to', () => {
  it('are distinct Japanese mobiles, and 60,000 of them (more than a run starts) give no prefix more than 3', () => {
    const N = 60_000;
    const perPrefix = new Map<string, number>();
    const seen = new Set<string>();
    for (let n = 0; n < N; n++) {
      const phone = benchPhone(n);
      seen.add(phone);
      const parsed = parseNumber(phone);
      if (parsed.e164 !== phone || parsed.country !== 'JP' || parsed.numberType !== 'mobile') throw new Error(`${phone}: ${JSON.stringify(parsed)}`);
      const prefix = numberPrefix(phone, 8);
      perPrefix.set(prefix, (perPrefix.get(prefix) ?? 0) + 1);
    }
    expect(seen.size).toBe(N);
    expect(Math.max(...perPrefix.values())).toBeLessThanOrEqual(3);
    expect(perPrefix.size).toBe(27_000);
  });

  it('never meet the seeded numbers (bench/seed.js: +8180 and eight digits from 00000000)', () => {
    for (const n of [0, 1, 8999, 9000, 9001, 26_999, 27_000, 10_000_000]) expect(benchPhone(n)).not.toMatch(/^\+81800/);
  });
});
