import { verifiesWith } from './support/webhooks';
import type { FakeServer } from './support/fake-http';
import type { TestApp } from './support/app';
import { codeOf, createWebhookCaller, startVerification } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';

const PHONE = '+819012345678';

describe('verification lifecycle over HTTP (real app, real PostgreSQL, fake SMS provider and webhook receiver)', () => {
  let stack: SmsStack;
  let t: TestApp;
  let sms: FakeServer;
  let hooks: FakeServer;
  let caller: { key: string; clientId: string };
  let webhookSecret: string;

  beforeAll(async () => {
    stack = await startSmsStack({ env: { PHONE_SENDS_PER_15_MIN: '100', PHONE_SENDS_PER_24_H: '100', PHONE_CHECK_FAILURES_PER_HOUR: '100' } });
    ({ t, sms, hooks } = stack);
    ({ webhookSecret, ...caller } = await createWebhookCaller(t, hooks));
  });
  afterAll(async () => stack?.close());

  it('start → the provider receives the code → check approves → a signed webhook arrives', async () => {
    const before = sms.received.length;
    const start = await t.request('POST', '/v1/verifications', { key: caller.key, body: { phoneNumber: PHONE, purpose: 'login' } });
    expect(start.status).toBe(201);
    expect(start.body).toMatchObject({ status: 'pending', phoneNumber: '+81*******5678', channel: 'sms', locale: 'ja', purpose: 'login', attemptsRemaining: 5, sendsRemaining: 4, risk: { decision: 'allow', reasons: [] } });
    expect(start.body.id).toMatch(/^vrf_/);
    const [msg] = (await sms.waitFor(before + 1)).slice(before);
    expect(msg.json.to).toBe(PHONE);
    expect(msg.json.reference).toMatch(/^msg_/);
    const code = codeOf(msg.json.text);
    expect(code).toHaveLength(6);
    expect(JSON.stringify(start.body)).not.toContain(code);

    const got = await t.request('GET', `/v1/verifications/${start.body.id}`, { key: caller.key });
    expect(got.body.delivery).toMatchObject({ status: 'sent', provider: 'http', attempts: 1 });

    const hooksBefore = hooks.received.length;
    const check = await t.request('POST', `/v1/verifications/${start.body.id}/check`, { key: caller.key, body: { code } });
    expect(check.status).toBe(200);
    expect(check.body).toEqual({ id: start.body.id, status: 'approved', valid: true, attemptsRemaining: 5 });

    const [hook] = (await hooks.waitFor(hooksBefore + 1)).slice(hooksBefore);
    expect(hook.json).toMatchObject({ type: 'verification.approved', data: { id: start.body.id, status: 'approved' } });
    expect(hook.json.id).toMatch(/^evt_/);
    expect(hook.headers['webhook-id']).toBe(hook.json.id);
    expect(hook.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(verifiesWith(hook, webhookSecret)).toBe(true);
    expect(hook.body).not.toContain(code);

    const again = await t.request('POST', `/v1/verifications/${start.body.id}/check`, { key: caller.key, body: { code } });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'verification_not_pending', verificationStatus: 'approved' });
  });

  it('wrong codes count down and lock at the limit; the right code no longer works', async () => {
    const { id, code } = await startVerification(t, sms, caller.key, { phoneNumber: PHONE, purpose: 'transfer' });
    const wrong = code === '000000' ? '111111' : '000000';
    const remaining = [];
    for (let i = 0; i < 5; i++) {
      const r = await t.request('POST', `/v1/verifications/${id}/check`, { key: caller.key, body: { code: wrong } });
      expect(r.status).toBe(200);
      expect(r.body.valid).toBe(false);
      remaining.push(r.body.attemptsRemaining);
      if (i === 4) expect(r.body.status).toBe('locked');
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    const right = await t.request('POST', `/v1/verifications/${id}/check`, { key: caller.key, body: { code } });
    expect(right.status).toBe(409);
    expect(right.body.verificationStatus).toBe('locked');
  });

  it('a wrong-length or non-digit code is 400 and costs no attempt', async () => {
    const start = await t.request('POST', '/v1/verifications', { key: caller.key, body: { phoneNumber: PHONE, purpose: 'login', codeLength: 8 } });
    for (const code of ['123456', '12345678901', 'abcdefgh', '1234 678', 12345678]) {
      const r = await t.request('POST', `/v1/verifications/${start.body.id}/check`, { key: caller.key, body: { code } });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('validation_failed');
    }
    const got = await t.request('GET', `/v1/verifications/${start.body.id}`, { key: caller.key });
    expect(got.body.attemptsRemaining).toBe(5);
  });
});
