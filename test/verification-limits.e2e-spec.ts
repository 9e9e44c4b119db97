import type { TestDatabase } from './support/database';
import { FakeClock } from './support/fake-clock';
import type { TestApp } from './support/app';
import { freshPhone } from './support/phones';
import { Stack, startStack } from './support/stack';

describe('validation and per-number limits of starts', () => {
  let stack: Stack;
  let db: TestDatabase;
  let t: TestApp;
  let key: string;
  const clock = new FakeClock();

  beforeAll(async () => {
    stack = await startStack({ env: { PHONE_SENDS_PER_15_MIN: '3', PHONE_SENDS_PER_24_H: '4', PHONE_CHECK_FAILURES_PER_HOUR: '3', OUTBOX_POLL_INTERVAL_MS: '3600000' }, clock });
    ({ db, t } = stack);
    key = (await t.createClient(['verifications:write', 'verifications:check'])).key;
  });
  afterAll(async () => stack?.close());

  const start = (body: Record<string, unknown>, k = key) => t.request('POST', '/v1/verifications', { key: k, body });
  const count = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM verifications'))[0].n);

  it.each([
    [{ purpose: 'login' }, 'validation_failed', ['phoneNumber']],
    [{ phoneNumber: '+819012345678' }, 'validation_failed', ['purpose']],
    [{ phoneNumber: '+819012345678', purpose: 'Log In' }, 'validation_failed', ['purpose']],
    [{ phoneNumber: '+819012345678', purpose: 'login', codeLength: 3, ttlSeconds: 30, locale: 'fr', channel: 'fax' }, 'validation_failed', ['channel', 'codeLength', 'locale', 'ttlSeconds']],
    [{ phoneNumber: '+819012345678', purpose: 'login', transaction: { amount: '1e5', currency: 'YE' } }, 'validation_failed', ['transaction.amount', 'transaction.currency', 'transaction.payee']],
    [{ phoneNumber: '+819012345678', purpose: 'login', reference: 'x'.repeat(129), surprise: true }, 'validation_failed', ['reference', 'surprise']],
    [{ phoneNumber: '09012345678', purpose: 'login' }, 'invalid_phone_number', ['phoneNumber']],
    [{ phoneNumber: '+81901', purpose: 'login' }, 'invalid_phone_number', ['phoneNumber']],
    [{ phoneNumber: '+819012345678', purpose: 'login', callbackUrl: 'ftp://bank/hook' }, 'validation_failed', ['callbackUrl']],
  ])('400 for %j, nothing stored', async (body, code, fields) => {
    const before = await count();
    const res = await start(body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe(code);
    expect([...new Set(res.body.errors.map((e: { field: string }) => e.field))].sort()).toEqual(fields);
    expect(await count()).toBe(before);
  });

  it('national form with a country is accepted and normalized', async () => {
    const res = await start({ phoneNumber: '090-1111-2222', country: 'JP', purpose: 'login' });
    expect(res.status).toBe(201);
    expect(res.body.phoneNumber).toBe('+81*******2222');
  });

  it('400 unsupported_number_type for SMS to a fixed line', async () => {
    const res = await start({ phoneNumber: '+81312345678', purpose: 'login' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'unsupported_number_type', numberType: 'fixed_line' });
  });

  it('a call to a fixed line is allowed, but a resend cannot switch it to SMS', async () => {
    const v = await start({ phoneNumber: '+81312340000', purpose: 'login', channel: 'voice' });
    expect(v.status).toBe(201);
    expect(v.body.channel).toBe('voice');
    clock.advance(30_000);
    const res = await t.request('POST', `/v1/verifications/${v.body.id}/resend`, { key, body: { channel: 'sms' } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'unsupported_number_type', numberType: 'fixed_line' });
    expect((await t.request('POST', `/v1/verifications/${v.body.id}/resend`, { key, body: { channel: 'voice' } })).status).toBe(200);
  });

  it('per number, across clients: at most 3 per 15 minutes, 4 per day, with Retry-After', async () => {
    const phone = freshPhone();
    const other = (await t.createClient(['verifications:write'])).key;
    expect((await start({ phoneNumber: phone, purpose: 'login' })).status).toBe(201);
    clock.advance(60_000);
    expect((await start({ phoneNumber: phone, purpose: 'login' }, other)).status).toBe(201);
    expect((await start({ phoneNumber: phone, purpose: 'login' })).status).toBe(201);
    const limited = await start({ phoneNumber: phone, purpose: 'login' }, other);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    expect(limited.body.detail).toMatch(/15 minutes/);
    expect(limited.headers.get('retry-after')).toBe(String(15 * 60 - 60));
    expect((await start({ phoneNumber: freshPhone(), purpose: 'login' })).status).toBe(201); // another number is fine

    clock.advance(15 * 60_000);
    expect((await start({ phoneNumber: phone, purpose: 'login' })).status).toBe(201);
    const daily = await start({ phoneNumber: phone, purpose: 'login' });
    expect(daily.status).toBe(429);
    expect(daily.body.detail).toMatch(/24 hours/);
    expect(Number(daily.headers.get('retry-after'))).toBe(24 * 3600 - 16 * 60);
  });

  it('wrong codes are capped per number across verifications: then starts answer 429', async () => {
    const phone = freshPhone();
    for (let i = 0; i < 3; i++) {
      const v = await start({ phoneNumber: phone, purpose: 'login' });
      expect(v.status).toBe(201);
      const r = await t.request('POST', `/v1/verifications/${v.body.id}/check`, { key, body: { code: '000000' } });
      // (a random code is 000000 once in a million: then this check approves and the count below is 2)
      expect(r.status).toBe(200);
      clock.advance(6 * 60_000); // stay under the send limits
    }
    const blocked = await start({ phoneNumber: phone, purpose: 'login' });
    expect(blocked.status).toBe(429);
    expect(blocked.body.detail).toMatch(/wrong codes/);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    clock.advance(3600_000);
    expect((await start({ phoneNumber: phone, purpose: 'login' })).status).toBe(201);
  });

  it('cancel: the verification becomes canceled and can no longer be checked or canceled', async () => {
    const v = await start({ phoneNumber: freshPhone(), purpose: 'login' });
    const c = await t.request('POST', `/v1/verifications/${v.body.id}/cancel`, { key });
    expect(c.status).toBe(200);
    expect(c.body.status).toBe('canceled');
    expect((await t.request('POST', `/v1/verifications/${v.body.id}/cancel`, { key })).body).toMatchObject({ code: 'verification_not_pending', verificationStatus: 'canceled' });
    expect((await t.request('POST', `/v1/verifications/${v.body.id}/check`, { key, body: { code: '123456' } })).status).toBe(409);
  });

  it('a client with only verifications:check cannot start (403); one with only write cannot check (403)', async () => {
    const checker = (await t.createClient(['verifications:check'])).key;
    expect((await start({ phoneNumber: freshPhone(), purpose: 'login' }, checker)).status).toBe(403);
    const writer = (await t.createClient(['verifications:write'])).key;
    const v = await start({ phoneNumber: freshPhone(), purpose: 'login' }, writer);
    expect((await t.request('POST', `/v1/verifications/${v.body.id}/check`, { key: writer, body: { code: '123456' } })).status).toBe(403);
  });
});
