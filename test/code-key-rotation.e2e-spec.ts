// Rotating OTP_HMAC_KEYS across instances: a code stored under a key that the checking instance does not hold (a
// rotation rolled out new key first, or a key removed while codes under it were pending) cannot be judged there. It
// must not count as a wrong code (an attempt spent, the verification locked for a person who typed the right code):
// the check answers 503 with Retry-After, changes nothing, and an instance that holds the key approves it.
import { startTestApp, TestApp } from './support/app';
import { expectProblem } from './support/problem';
import { startVerification } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';

const K1 = 'k1:' + '1a'.repeat(32);
const K2 = 'k2:' + '2b'.repeat(32);

describe('code keys (OTP_HMAC_KEYS) rotated across instances', () => {
  let s: SmsStack;
  let newer: TestApp;
  let older: TestApp;

  beforeAll(async () => {
    // The stack's instance already stores codes under k2; the other still has only k1.
    s = await startSmsStack({ env: { THROTTLE_LIMIT: '100000', OTP_HMAC_KEYS: `${K1},${K2}` } });
    newer = s.t;
    older = await startTestApp(s.db.url, { THROTTLE_LIMIT: '100000', SMS_PROVIDER: 'http', SMS_HTTP_URL: `${s.sms.url}/sms`, OTP_HMAC_KEYS: K1 });
  });
  afterAll(async () => {
    await older?.close();
    await s?.close();
  });

  it('a check on an instance without the code\'s key answers 503 and spends no attempt; one with the key approves', async () => {
    const { key } = await newer.createClient(['verifications:write', 'verifications:check']);
    const v = await startVerification(newer, s.sms, key);
    const [stored] = await s.db.query<{ code_key_id: string }>(`SELECT code_key_id FROM verifications WHERE id = $1`, [v.id]);
    expect(stored.code_key_id).toBe('k2');

    for (const code of [v.code, v.code === '000000' ? '111111' : '000000']) {
      const res = await older.request('POST', `/v1/verifications/${v.id}/check`, { key, body: { code } });
      expectProblem(res, 503, 'service_unavailable');
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.body.detail).toContain('k2');
    }
    expect(older.logs.join('')).toMatch(/code key k2 .*not in OTP_HMAC_KEYS/);
    const after = await newer.request('GET', `/v1/verifications/${v.id}`, { key });
    expect(after.body).toMatchObject({ status: 'pending', attemptsRemaining: 5 });
    const [{ n }] = await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE verification_id = $1 AND type = 'verification.check_failed'`, [v.id]);
    expect(n).toBe(0);

    const approved = await newer.request('POST', `/v1/verifications/${v.id}/check`, { key, body: { code: v.code } });
    expect(approved.body).toMatchObject({ status: 'approved', valid: true });
  });

  it('the key listed first (not yet current) is learned everywhere before it is used: the safe order of a rotation', async () => {
    // Step one of a rotation: k2 listed before k1, so k1 stays current while every instance learns k2.
    const step1 = await startTestApp(s.db.url, { THROTTLE_LIMIT: '100000', SMS_PROVIDER: 'http', SMS_HTTP_URL: `${s.sms.url}/sms`, OTP_HMAC_KEYS: `${K2},${K1}` });
    try {
      const { key } = await step1.createClient(['verifications:write', 'verifications:check']);
      const v = await startVerification(step1, s.sms, key);
      const [stored] = await s.db.query<{ code_key_id: string }>(`SELECT code_key_id FROM verifications WHERE id = $1`, [v.id]);
      expect(stored.code_key_id).toBe('k1');
      // the instance with k1 only (not yet on step one) still checks it
      expect((await older.request('POST', `/v1/verifications/${v.id}/check`, { key, body: { code: v.code } })).body).toMatchObject({ status: 'approved', valid: true });
    } finally {
      await step1.close();
    }
  });
});
