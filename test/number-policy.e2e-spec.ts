// Issue 10, item 3: the Japanese number policy by prefix, through the real start API on a real PostgreSQL.
// 400 `invalid_phone_number`: not a valid number (14-digit 0200 among them). 400 `unsupported_number_type`: no
// number of that type can receive the channel (fixed line or 050 for SMS; toll-free, navi dial, premium).
// 403 `risk_denied` with `number_type_not_allowed`: a number that could receive it but the policy refuses (020 M2M).
import fc from 'fast-check';
import type { TestApp } from './support/app';
import { expectProblem } from './support/problem';
import { Stack, startStack } from './support/stack';

describe('Japanese number policy at start (issue 10 item 3)', () => {
  let s: Stack;
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    s = await startStack({ env: { THROTTLE_LIMIT: '100000' } });
    t = s.t;
    key = (await t.createClient(['verifications:write'])).key;
  });
  afterAll(async () => s?.close());

  let n = Math.floor(Math.random() * 1e6);
  /** A fresh number in a range, `digits` long in national form (the digits after the prefix start at 1-9: 0800 and 0200 are ranges of their own). */
  const numberIn = (prefix: string, digits = 11) => `+81${prefix.slice(1)}${10_000_000 + (n = (n + 7919) % 89_999_999)}`.slice(0, digits + 2);
  const start = (phoneNumber: string, channel: 'sms' | 'voice' = 'sms', extra: Record<string, unknown> = {}) =>
    t.request('POST', '/v1/verifications', { key, body: { phoneNumber, channel, purpose: 'login', ...extra } });
  const rows = async () => Number((await s.db.query<{ n: string }>(`SELECT count(*) AS n FROM verifications`))[0].n);
  const outbox = async () => Number((await s.db.query<{ n: string }>(`SELECT count(*) AS n FROM outbox`))[0].n);

  it.each(['060', '070', '080', '090'])('a %s mobile number passes for SMS and for a call', async (prefix) => {
    const sms = await start(numberIn(prefix));
    expect(sms.status).toBe(201);
    expect(sms.body).toMatchObject({ status: 'pending', channel: 'sms', risk: { decision: 'allow', reasons: [] } });
    expect((await start(numberIn(prefix), 'voice')).status).toBe(201);
  });

  it('060 numbers in national form with country JP', async () => {
    const res = await start('060-' + numberIn('060').slice(5, 9) + '-' + numberIn('060').slice(9), 'sms', { country: 'JP' });
    expect(res.status).toBe(201);
  });

  it.each([['sms'], ['voice']] as const)('020 (M2M / data SIM) over %s: 403 risk_denied with number_type_not_allowed; nothing written', async (channel) => {
    const [before, queued] = [await rows(), await outbox()];
    const res = await start(numberIn('020'), channel);
    expectProblem(res, 403, 'risk_denied');
    expect(res.body.reasons).toEqual(['number_type_not_allowed']);
    expect([await rows(), await outbox()]).toEqual([before, queued]);
  });

  it('050 IP phones: 400 unsupported_number_type for SMS; 403 number_type_not_allowed for a call (not in the default voice types)', async () => {
    const sms = await start(numberIn('050'));
    expectProblem(sms, 400, 'unsupported_number_type');
    expect(sms.body.numberType).toBe('voip');
    const call = await start(numberIn('050'), 'voice');
    expectProblem(call, 403, 'risk_denied');
    expect(call.body.reasons).toEqual(['number_type_not_allowed']);
  });

  it('fixed lines: 400 unsupported_number_type for SMS, allowed for a call', async () => {
    const sms = await start('+81312345678');
    expectProblem(sms, 400, 'unsupported_number_type');
    expect(sms.body.numberType).toBe('fixed_line');
    expect((await start(numberIn('03', 10), 'voice')).status).toBe(201);
  });

  it.each([
    ['0120', 10, 'toll_free'],
    ['0800', 11, 'toll_free'],
    ['0570', 10, 'shared_cost'],
    ['0990', 10, 'premium_rate'],
    ['0180', 10, 'premium_rate'],
  ] as const)('%s numbers (%s): 400 unsupported_number_type for SMS and calls; nothing written', async (prefix, digits, type) => {
    const before = await rows();
    for (const channel of ['sms', 'voice'] as const) {
      const res = await start(numberIn(prefix, digits), channel);
      expectProblem(res, 400, 'unsupported_number_type');
      expect(res.body.numberType).toBe(type);
    }
    expect(await rows()).toBe(before);
  });

  it.each(['+812001234567890', '+81200123456789', '+8120012345', '0200-12345-67890'])('%s (0200, the 14-digit M2M range): 400 invalid_phone_number', async (phoneNumber) => {
    const res = await start(phoneNumber, 'sms', phoneNumber.startsWith('0') ? { country: 'JP' } : {});
    expectProblem(res, 400, 'invalid_phone_number');
    expect(res.body.errors).toEqual([{ field: 'phoneNumber', message: expect.any(String) }]);
  });

  it('random strings and digit strings as phoneNumber only ever answer 400 or a decision, never 5xx (fast-check)', async () => {
    const allowed = new Set([201, 400, 403, 429]);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 30 }),
          fc.stringMatching(/^\+81[0-9]{0,16}$/),
          fc.stringMatching(/^0[0-9]{0,15}$/),
          fc.stringMatching(/^\+[0-9]{1,18}$/),
        ),
        fc.option(fc.constantFrom('JP', 'US', 'jp'), { nil: undefined }),
        fc.constantFrom('sms', 'voice'),
        async (phoneNumber, country, channel) => {
          const res = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber, country, channel, purpose: 'login' } });
          expect(allowed).toContain(res.status);
          if (res.status === 400) expect(['invalid_phone_number', 'unsupported_number_type', 'validation_failed']).toContain(res.body.code);
          if (res.status === 403) expect(res.body).toMatchObject({ code: 'risk_denied', reasons: expect.any(Array) });
          if (res.status === 201) expect(res.body.risk).toEqual({ decision: 'allow', reasons: [] });
        },
      ),
      { numRuns: 150 },
    );
  });
});
