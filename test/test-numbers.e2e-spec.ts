// Issue 12, item 4: test numbers (sandbox). A client's test number runs the real API end to end with no provider
// call (the fake SMS provider and the fake Twilio count zero requests for it), accepts its fixed code, and plays its
// scripted delivery status and IVR outcome through the same receipt and call paths real callbacks take, so the
// webhooks, the voice-contract decisions and the denials are the real ones. Admin routes: validated, audited, 404
// across clients. In production they work only where a client's policy allows them; elsewhere a test number is an
// ordinary number.
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import type { TestApp } from './support/app';
import { FakeClock } from './support/fake-clock';
import { FakeTwilio, startFakeTwilio } from './support/fake-twilio';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { codeSentTo, messagesTo, webhooksFor } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { sleep, waitFor } from './support/wait';

const RETRY_MS = 120_000;

describe('test numbers', () => {
  let fake: FakeTwilio;
  let s: SmsStack;
  let t: TestApp;
  let clock: FakeClock;
  let admin: { key: string };
  /** A plain client (no voice-contract check), one whose policy requires a voice contract (onUnknown deny), one with onUnknown allow. */
  let plain: { key: string; clientId: string };
  let requireDeny: { key: string; clientId: string };
  let requireAllow: { key: string; clientId: string };

  beforeAll(async () => {
    fake = await startFakeTwilio();
    clock = new FakeClock(Date.now());
    // One retry of a check call, and no background poller: the test moves the clock and polls (as voice-contract.e2e-spec does).
    s = await startSmsStack({ env: { ...fake.env(), THROTTLE_LIMIT: '100000', RISK_VOICE_CHECK_RETRIES: '1', OUTBOX_POLL_INTERVAL_MS: '3600000' }, clock });
    t = s.t;
    fake.deliverTo = t.url;
    admin = await t.createClient(['admin']);
    const client = async (voiceContract?: Record<string, unknown>) => {
      const c = await t.createClient(['verifications:write', 'verifications:check']);
      if (voiceContract) expect((await t.request('PUT', `/v1/admin/clients/${c.clientId}/policy`, { key: admin.key, body: { voiceContract } })).status).toBe(200);
      return c;
    };
    plain = await client();
    requireDeny = await client({ default: 'require', onUnknown: 'deny' });
    requireAllow = await client({ default: 'require', onUnknown: 'allow' });
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  const addTestNumber = (clientId: string, body: Record<string, unknown>) => t.request('POST', `/v1/admin/clients/${clientId}/test-numbers`, { key: admin.key, body });
  /** A fresh number made a test number of the client, with this script. */
  const testNumber = async (clientId: string, script: Record<string, unknown> = {}) => {
    const phone = freshPhone();
    const res = await addTestNumber(clientId, { phoneNumber: phone, ...script });
    expect(res.status).toBe(201);
    return { phone, id: res.body.id as string };
  };
  const start = (key: string, phoneNumber: string, extra: Record<string, unknown> = {}) =>
    t.request('POST', '/v1/verifications', { key, body: { phoneNumber, purpose: 'login', callbackUrl: `${s.hooks.url}/hooks`, ...extra } });
  const get = (key: string, id: string) => t.request('GET', `/v1/verifications/${id}`, { key });
  const check = (key: string, id: string, code: string) => t.request('POST', `/v1/verifications/${id}/check`, { key, body: { code } });
  const auditOf = (verificationId: string) =>
    s.db.query<{ type: string; data: any }>(`SELECT type, data FROM audit_events WHERE verification_id = $1`, [verificationId]);
  /** Nothing reached a provider for this number: no SMS at the fake SMS provider, no request at the fake Twilio. */
  const expectNoProviderCall = (phone: string) => {
    expect(messagesTo(s.sms, phone)).toEqual([]);
    expect(fake.requests.filter((r) => r.form.some(([, v]) => v === phone))).toEqual([]);
    expect(fake.messages.filter((m) => JSON.stringify(m).includes(phone))).toEqual([]);
    expect(fake.calls.filter((c) => c.to === phone)).toEqual([]);
  };
  const poll = () => t.app.get(OutboxDispatcher).pollOnce();
  const settle = () => sleep(150);

  describe('admin routes', () => {
    it('add, list and remove, each audited without the code; the list is { items } with masked numbers', async () => {
      const c = await t.createClient(['verifications:write']);
      const phone = freshPhone();
      const added = await addTestNumber(c.clientId, { phoneNumber: phone, code: '4242', deliveryStatus: 'delivered', ivrOutcome: 'voicemail' });
      expect(added.status).toBe(201);
      expect(added.body).toEqual({
        id: expect.stringMatching(/^tst_[0-9A-Z]{26}$/), phoneNumber: `+81*******${phone.slice(-4)}`, codeLength: 4, deliveryStatus: 'delivered', ivrOutcome: 'voicemail', createdAt: expect.any(String),
      });
      clock.advance(1000); // the list is oldest first
      const other = await addTestNumber(c.clientId, { phoneNumber: freshPhone() });
      expect(other.body).toMatchObject({ codeLength: null, deliveryStatus: null, ivrOutcome: 'key_pressed' });

      const list = await t.request('GET', `/v1/admin/clients/${c.clientId}/test-numbers`, { key: admin.key });
      expect(list.status).toBe(200);
      expect(list.body).toEqual({ items: [added.body, other.body] });

      const removed = await t.request('DELETE', `/v1/admin/clients/${c.clientId}/test-numbers/${added.body.id}`, { key: admin.key });
      expect(removed.status).toBe(200);
      expect(removed.body).toEqual(added.body);
      expect((await t.request('GET', `/v1/admin/clients/${c.clientId}/test-numbers`, { key: admin.key })).body).toEqual({ items: [other.body] });
      expectProblem(await t.request('DELETE', `/v1/admin/clients/${c.clientId}/test-numbers/${added.body.id}`, { key: admin.key }), 404, 'not_found');

      const events = await s.db.query<{ type: string; data: any; phone_masked: string | null; actor_id: string }>(
        `SELECT type, data, phone_masked, actor_id FROM audit_events WHERE client_id = $1 AND type LIKE 'client.test_number_%' ORDER BY occurred_at, id`,
        [c.clientId],
      );
      expect(events.map((e) => e.type).sort()).toEqual(['client.test_number_added', 'client.test_number_added', 'client.test_number_removed']);
      const first = events.find((e) => e.type === 'client.test_number_added' && e.data.testNumberId === added.body.id)!;
      expect(first.data).toEqual({ testNumberId: added.body.id, fixedCodeDigits: 4, deliveryStatus: 'delivered', ivrOutcome: 'voicemail' });
      expect(first.phone_masked).toBe(`+81*******${phone.slice(-4)}`);
      expect(events.find((e) => e.type === 'client.test_number_removed')!.data).toMatchObject({ testNumberId: added.body.id });
      expect(JSON.stringify(events)).not.toContain('4242');
    });

    it('bad input is a problem+json 4xx that adds nothing; a duplicate is 409; another client\'s ids answer 404', async () => {
      const c = await t.createClient(['verifications:write']);
      const other = await t.createClient(['verifications:write']);
      for (const phoneNumber of ['09012345678', '+81 90 1234 5678', '+81abc', '+8190123', '+0901234567', 12345]) {
        const res = await addTestNumber(c.clientId, { phoneNumber });
        expect([400]).toContain(res.status);
        expect(['invalid_phone_number', 'validation_failed']).toContain(res.body.code);
      }
      for (const body of [{}, { phoneNumber: freshPhone(), code: '12ab' }, { phoneNumber: freshPhone(), code: '123' }, { phoneNumber: freshPhone(), code: '12345678901' },
        { phoneNumber: freshPhone(), deliveryStatus: 'sent' }, { phoneNumber: freshPhone(), ivrOutcome: 'press' }, { phoneNumber: freshPhone(), extra: 1 }]) {
        expectProblem(await addTestNumber(c.clientId, body), 400, 'validation_failed');
      }
      expect((await t.request('GET', `/v1/admin/clients/${c.clientId}/test-numbers`, { key: admin.key })).body).toEqual({ items: [] });

      const phone = freshPhone();
      expect((await addTestNumber(c.clientId, { phoneNumber: phone })).status).toBe(201);
      expectProblem(await addTestNumber(c.clientId, { phoneNumber: phone }), 409, 'conflict');
      // The same number may be another client's test number.
      const theirs = await addTestNumber(other.clientId, { phoneNumber: phone });
      expect(theirs.status).toBe(201);

      expectProblem(await t.request('DELETE', `/v1/admin/clients/${c.clientId}/test-numbers/${theirs.body.id}`, { key: admin.key }), 404, 'not_found');
      expect((await t.request('GET', `/v1/admin/clients/${other.clientId}/test-numbers`, { key: admin.key })).body.items).toHaveLength(1);
      expectProblem(await addTestNumber('cli_01JD3Y8N6W2Q5V7X9Z1B3C5D7F', { phoneNumber: freshPhone() }), 404, 'not_found');
      expectProblem(await t.request('GET', '/v1/admin/clients/cli_01JD3Y8N6W2Q5V7X9Z1B3C5D7F/test-numbers', { key: admin.key }), 404, 'not_found');
      // Admin scope only.
      expectProblem(await t.request('GET', `/v1/admin/clients/${c.clientId}/test-numbers`, { key: plain.key }), 403, 'forbidden');
    });
  });

  describe('start → check with no provider call', () => {
    it('the fixed code approves; a wrong code still counts; the verification, its events and its message are marked test', async () => {
      const { phone, id: testNumberId } = await testNumber(plain.clientId, { code: '424242' });
      const res = await start(plain.key, phone);
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ status: 'pending', test: true, attemptsRemaining: 5 });
      await waitFor(async () => (await get(plain.key, res.body.id)).body.delivery?.status === 'sent', { what: 'the test message "sent"' });
      expect((await get(plain.key, res.body.id)).body.delivery).toMatchObject({ status: 'sent', provider: 'test' });

      const wrong = await check(plain.key, res.body.id, '123456');
      expect(wrong.body).toMatchObject({ status: 'pending', valid: false, attemptsRemaining: 4 });
      const right = await check(plain.key, res.body.id, '424242');
      expect(right.body).toEqual({ id: res.body.id, status: 'approved', valid: true, attemptsRemaining: 4 });
      await settle();
      expectNoProviderCall(phone);

      // the approval's webhook delivery is audited too (webhook.delivered), and marked as test like the rest
      await waitFor(async () => (await auditOf(res.body.id)).some((e) => e.type === 'webhook.delivered'), { what: 'the webhook delivery' });
      const all = await auditOf(res.body.id);
      for (const e of all) expect({ type: e.type, test: e.data.test }).toEqual({ type: e.type, test: true });
      const events = all.filter((e) => !e.type.startsWith('webhook.'));
      expect(events.map((e) => e.type).sort()).toEqual(['message.queued', 'message.sent', 'verification.approved', 'verification.check_failed', 'verification.created']);
      const byType = (type: string) => events.find((e) => e.type === type)!.data;
      expect(byType('verification.created')).toMatchObject({ testNumberId, risk: { decision: 'allow', rules: [expect.objectContaining({ rule: 'test_number' })] } });
      expect(byType('message.sent')).toMatchObject({ provider: 'test' });
      expect(JSON.stringify(events)).not.toContain('424242');
      // A test number counts against no number's limits: no send or wrong code was recorded for it.
      expect(await s.db.query(`SELECT 1 FROM phone_sends WHERE phone_e164 = $1`, [phone])).toEqual([]);
      expect(await s.db.query(`SELECT 1 FROM phone_check_failures WHERE phone_e164 = $1`, [phone])).toEqual([]);
    });

    it('the default code is the first codeLength digits of 1234567890; a fixed code of another length refuses that codeLength (400, nothing started)', async () => {
      const { phone } = await testNumber(plain.clientId);
      const six = await start(plain.key, phone);
      expect((await check(plain.key, six.body.id, '123456')).body.status).toBe('approved');
      const eight = await start(plain.key, phone, { codeLength: 8 });
      expect((await check(plain.key, eight.body.id, '12345678')).body.status).toBe('approved');

      const fixed = await testNumber(plain.clientId, { code: '9876' });
      const refused = await start(plain.key, fixed.phone, { codeLength: 6 });
      expectProblem(refused, 400, 'validation_failed');
      expect(refused.body.errors).toEqual([{ field: 'codeLength', message: 'must be 4 for this test number' }]);
      const ok = await start(plain.key, fixed.phone);
      expect(ok.body).toMatchObject({ status: 'pending', test: true });
      expect((await check(plain.key, ok.body.id, '9876')).body.status).toBe('approved');
      expectNoProviderCall(phone);
      expectNoProviderCall(fixed.phone);
    });

    it('wrong codes lock it at the limit, as for any verification', async () => {
      const { phone } = await testNumber(plain.clientId);
      const res = await start(plain.key, phone);
      for (let i = 0; i < 4; i++) expect((await check(plain.key, res.body.id, '000000')).body.status).toBe('pending');
      expect((await check(plain.key, res.body.id, '000000')).body).toMatchObject({ status: 'locked', valid: false, attemptsRemaining: 0 });
      expectProblem(await check(plain.key, res.body.id, '123456'), 409, 'verification_not_pending');
    });

    it('a resend keeps the fixed code and sends nothing either', async () => {
      const { phone } = await testNumber(plain.clientId, { code: '555555' });
      const res = await start(plain.key, phone);
      clock.advance(31_000);
      const resent = await t.request('POST', `/v1/verifications/${res.body.id}/resend`, { key: plain.key });
      expect(resent.status).toBe(200);
      expect(resent.body).toMatchObject({ status: 'pending', test: true, sendsRemaining: 3 });
      expect((await check(plain.key, res.body.id, '555555')).body.status).toBe('approved');
      await settle();
      expectNoProviderCall(phone);
    });

    it("a real number of the same client, and the test number at another client, go through the provider as always", async () => {
      const { phone } = await testNumber(plain.clientId);
      const other = await t.createClient(['verifications:write', 'verifications:check']);
      const res = await start(other.key, phone);
      expect(res.status).toBe(201);
      expect(res.body.test).toBeUndefined();
      const code = await codeSentTo(s.sms, phone);
      expect((await check(other.key, res.body.id, code)).body.status).toBe('approved');
      const real = freshPhone();
      const mine = await start(plain.key, real);
      expect(mine.body.test).toBeUndefined();
      await codeSentTo(s.sms, real);
    });
  });

  describe('scripted delivery status', () => {
    it.each([
      ['delivered', 'delivered', 'message.delivered', 'pending'],
      ['undelivered', 'undelivered', 'message.undelivered', 'pending'],
      ['failed', 'failed', 'verification.failed', 'failed'],
    ])('%s: delivery.status %s and the %s webhook', async (deliveryStatus, delivery, webhook, status) => {
      const { phone } = await testNumber(plain.clientId, { deliveryStatus });
      const res = await start(plain.key, phone);
      await waitFor(async () => (await get(plain.key, res.body.id)).body.delivery?.status === delivery, { what: `delivery ${delivery}` });
      await waitFor(() => webhooksFor(s.hooks, res.body.id).length >= 1, { what: 'the webhook' });
      await settle();
      const after = (await get(plain.key, res.body.id)).body;
      expect(after).toMatchObject({ status, test: true, delivery: { status: delivery, provider: 'test' } });
      const hooks = webhooksFor(s.hooks, res.body.id);
      expect(hooks.map((h) => h.json.type)).toEqual([webhook]);
      expect(hooks[0].json.data).toMatchObject({ id: res.body.id, test: true, delivery: { status: delivery } });
      expectNoProviderCall(phone);
      const types = (await auditOf(res.body.id)).map((e) => e.type);
      expect(types).toContain(deliveryStatus === 'failed' ? 'verification.failed' : `message.${deliveryStatus}`);
    });

    it('none: the message stays sent and no webhook comes', async () => {
      const { phone } = await testNumber(plain.clientId);
      const res = await start(plain.key, phone);
      await waitFor(async () => (await get(plain.key, res.body.id)).body.delivery?.status === 'sent', { what: 'sent' });
      await settle();
      expect(webhooksFor(s.hooks, res.body.id)).toEqual([]);
    });
  });

  describe('scripted IVR outcome under voiceContract require', () => {
    const decidedFor = async (phone: string) =>
      s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'voice_contract.decided' AND phone_masked = $1 ORDER BY occurred_at`, [`+81*******${phone.slice(-4)}`]);
    const record = (phone: string) => t.request('GET', `/v1/admin/voice-contracts/${encodeURIComponent(phone)}`, { key: admin.key });
    const nextRetry = async () => {
      clock.advance(RETRY_MS);
      await poll();
    };

    it('key_pressed: 202 screening, the check confirms, the code is released and the fixed code approves; the number keeps no record', async () => {
      const { phone } = await testNumber(requireDeny.clientId, { ivrOutcome: 'key_pressed', code: '111111' });
      const res = await start(requireDeny.key, phone);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ status: 'screening', test: true, risk: { decision: 'screen', reasons: ['voice_contract_required'] } });
      await waitFor(async () => (await get(requireDeny.key, res.body.id)).body.status === 'pending', { what: 'released' });
      expect((await check(requireDeny.key, res.body.id, '111111')).body.status).toBe('approved');
      await settle();
      expectNoProviderCall(phone);
      const [decided] = await decidedFor(phone);
      expect(decided.data).toMatchObject({ status: 'confirmed', test: true, provider: 'test', outcome: 'key_pressed' });
      // A test check is no record of the number: a real screening of it finds none; the admin view lists the check as history only.
      const rec = (await record(phone)).body;
      expect(rec.status).toBe('none');
      expect(rec.history).toHaveLength(1);
      // And the next start of the test number runs its check again.
      expect((await start(requireDeny.key, phone)).status).toBe(202);
    });

    it('unallocated: absent after the confirming call → denied no_voice_contract, one verification.denied webhook, no SMS, no call', async () => {
      const { phone } = await testNumber(requireDeny.clientId, { ivrOutcome: 'unallocated' });
      const res = await start(requireDeny.key, phone);
      expect(res.status).toBe(202);
      await waitFor(async () => (await record(phone)).body.history[0]?.calls.length === 1, { what: 'the first call ended' });
      expect((await get(requireDeny.key, res.body.id)).body.status).toBe('screening');
      await nextRetry();
      await waitFor(async () => (await get(requireDeny.key, res.body.id)).body.status === 'denied', { what: 'denied' });
      await waitFor(() => webhooksFor(s.hooks, res.body.id).length > 0, { what: 'the denial webhook' });
      await settle(); // and no other
      expect((await get(requireDeny.key, res.body.id)).body.risk).toEqual({ decision: 'deny', reasons: ['no_voice_contract'] });
      const hooks = webhooksFor(s.hooks, res.body.id);
      expect(hooks.map((h) => h.json.type)).toEqual(['verification.denied']);
      expect((await record(phone)).body.history[0].calls.map((c: { outcome: string; provider: string }) => [c.provider, c.outcome])).toEqual([['test', 'unallocated'], ['test', 'unallocated']]);
      expectNoProviderCall(phone);
      // No absent record: a later start is screened (and called) again, not refused at once.
      expect((await start(requireDeny.key, phone)).status).toBe(202);
    });

    it.each(['voicemail', 'busy', 'no_answer'])('%s: retried, then unknown → onUnknown deny denies (voice_contract_unknown); onUnknown allow releases the code', async (ivrOutcome) => {
      const denied = await testNumber(requireDeny.clientId, { ivrOutcome });
      const allowed = await testNumber(requireAllow.clientId, { ivrOutcome });
      const d = await start(requireDeny.key, denied.phone);
      const a = await start(requireAllow.key, allowed.phone);
      expect([d.status, a.status]).toEqual([202, 202]);
      await waitFor(async () => (await record(denied.phone)).body.history[0]?.calls.length === 1 && (await record(allowed.phone)).body.history[0]?.calls.length === 1, {
        what: 'the first calls ended',
      });
      expect((await get(requireDeny.key, d.body.id)).body.status).toBe('screening');
      await nextRetry();
      await waitFor(async () => (await get(requireDeny.key, d.body.id)).body.status === 'denied', { what: 'denied' });
      await waitFor(async () => (await get(requireAllow.key, a.body.id)).body.status === 'pending', { what: 'released' });
      await waitFor(() => webhooksFor(s.hooks, d.body.id).length > 0, { what: 'the denial webhook' });
      await settle(); // and no other
      expect((await get(requireDeny.key, d.body.id)).body.risk.reasons).toEqual(['voice_contract_unknown']);
      expect(webhooksFor(s.hooks, d.body.id).map((h) => h.json.type)).toEqual(['verification.denied']);
      expect((await get(requireAllow.key, a.body.id)).body.risk).toEqual({ decision: 'allow', reasons: ['voice_contract_unknown'] });
      expect((await check(requireAllow.key, a.body.id, '123456')).body.status).toBe('approved');
      expect((await record(denied.phone)).body.history[0].calls.map((c: { outcome: string }) => c.outcome)).toEqual([ivrOutcome, ivrOutcome]);
      expectNoProviderCall(denied.phone);
      expectNoProviderCall(allowed.phone);
    });
  });
});

describe('test numbers in production', () => {
  let s: SmsStack;
  let t: TestApp;
  let admin: { key: string };

  beforeAll(async () => {
    s = await startSmsStack({ env: { NODE_ENV: 'production', AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32), THROTTLE_LIMIT: '100000', API_KEY_CACHE_TTL_SECONDS: '0' } });
    t = s.t;
    admin = await t.createClient(['admin']);
  });
  afterAll(async () => {
    await s?.close();
  });

  const setAllowed = async (clientId: string, testNumbersInProduction: boolean | null) => {
    const res = await t.request('PUT', `/v1/admin/clients/${clientId}/policy`, { key: admin.key, body: { testNumbersInProduction } });
    expect(res.status).toBe(200);
    return res.body;
  };

  it('refused unless the client\'s policy allows them (audited); a test number without that allowance is an ordinary number', async () => {
    const c = await t.createClient(['verifications:write', 'verifications:check']);
    const phone = freshPhone();
    const refused = await t.request('POST', `/v1/admin/clients/${c.clientId}/test-numbers`, { key: admin.key, body: { phoneNumber: phone } });
    expectProblem(refused, 409, 'conflict');
    expect(refused.body.detail).toContain('testNumbersInProduction');

    expect(await setAllowed(c.clientId, true)).toMatchObject({ testNumbersInProduction: true });
    const [event] = await s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'client.policy_updated' AND client_id = $1`, [c.clientId]);
    expect(event.data).toMatchObject({ changed: ['testNumbersInProduction'], before: { testNumbersInProduction: null }, after: { testNumbersInProduction: true } });
    expect((await t.request('POST', `/v1/admin/clients/${c.clientId}/test-numbers`, { key: admin.key, body: { phoneNumber: phone } })).status).toBe(201);

    const test = await t.request('POST', '/v1/verifications', { key: c.key, body: { phoneNumber: phone, purpose: 'login' } });
    expect(test.body).toMatchObject({ status: 'pending', test: true });
    expect((await t.request('POST', `/v1/verifications/${test.body.id}/check`, { key: c.key, body: { code: '123456' } })).body.status).toBe('approved');
    await sleep(150);
    expect(messagesTo(s.sms, phone)).toEqual([]);

    // The allowance taken back: the same number is an ordinary one again, its code sent by the provider.
    expect(await setAllowed(c.clientId, null)).toMatchObject({ testNumbersInProduction: false });
    const real = await t.request('POST', '/v1/verifications', { key: c.key, body: { phoneNumber: phone, purpose: 'login' } });
    expect(real.status).toBe(201);
    expect(real.body.test).toBeUndefined();
    const code = await codeSentTo(s.sms, phone);
    expect((await t.request('POST', `/v1/verifications/${real.body.id}/check`, { key: c.key, body: { code } })).body.status).toBe('approved');
  });
});
