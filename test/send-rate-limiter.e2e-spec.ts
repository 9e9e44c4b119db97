import { performance } from 'node:perf_hooks';
import { PostgresSendRateLimiter } from '../src/gateway/routing/send-rate-limiter';
import { SendRateRepository } from '../src/gateway/routing/send-rate.repository';
import { startTestApp, TestApp } from './support/app';
import { createTestDatabase, TestDatabase } from './support/database';

/**
 * A provider's send rate, shared by every instance through PostgreSQL (a voice provider: 1 call a second by default):
 * a send past the rate waits for the next second while its budget lasts, and is passed over when it does not.
 */
describe('PostgresSendRateLimiter (real PostgreSQL)', () => {
  let db: TestDatabase;
  let t: TestApp;
  let limiter: PostgresSendRateLimiter;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await startTestApp(db.url);
    limiter = new PostgresSendRateLimiter(t.app.get(SendRateRepository), { 'twilio.voice': 1 });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  /** The current second's one call taken (as another instance would); the second it was taken in. */
  const fillWindow = async (): Promise<string> => {
    const [row] = await db.query<{ second: string }>(
      `INSERT INTO provider_send_windows (provider, channel, window_start, sent) VALUES ('twilio', 'voice', date_trunc('second', clock_timestamp()), 1)
       ON CONFLICT (provider, channel) DO UPDATE SET window_start = EXCLUDED.window_start, sent = 1
       RETURNING window_start::text AS second`,
    );
    return row.second;
  };
  const windowStart = async () => (await db.query<{ second: string }>(`SELECT window_start::text AS second FROM provider_send_windows WHERE provider = 'twilio'`))[0].second;

  it('past the rate, a send whose budget reaches the next second waits for it, then goes', async () => {
    const filled = await fillWindow();
    const started = performance.now();
    expect(await limiter.acquire('twilio', 'voice', performance.now() + 3000)).toBe(true);
    expect(performance.now() - started).toBeLessThan(2500); // one window waited, not two
    expect(await windowStart()).not.toBe(filled); // taken in a later second
  });

  it('past the rate, a send whose budget ends first is passed over at once', async () => {
    // Retried in the rare case the second turns between filling the window and asking
    for (let i = 0; i < 5; i++) {
      const filled = await fillWindow();
      const started = performance.now();
      const taken = await limiter.acquire('twilio', 'voice', performance.now() + 50);
      if ((await windowStart()) !== filled) continue;
      expect(taken).toBe(false);
      expect(performance.now() - started).toBeLessThan(500);
      return;
    }
    throw new Error('the second turned during every try');
  });
});
