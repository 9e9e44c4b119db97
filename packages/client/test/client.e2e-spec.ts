import { createOtpClient, OtpProblemError, verifyWebhook, WebhookVerificationError, type OtpClient } from '@otp-verify/client';
import { paymentConfirmation, type Payment } from '../examples/payment-service';
import { freshPhone } from '../../../test/support/phones';
import { codeSentTo, createWebhookCaller, messagesTo, webhooksFor } from '../../../test/support/scenario';
import { SmsStack, startSmsStack } from '../../../test/support/stack';
import { waitFor } from '../../../test/support/wait';

/**
 * The client package (issue 12 item 2) against the real service: the AppModule on PostgreSQL with a fake SMS
 * provider and a fake webhook receiver (test/support/stack.ts). The example payment flow runs as written, the
 * errors arrive as typed problems, and the automatic Idempotency-Key makes a start safe to retry.
 */
const payment = (over: Partial<Payment> = {}): Payment => ({
  id: `pay-${Math.random().toString(36).slice(2, 10)}`,
  phone: freshPhone(),
  amount: '150000',
  currency: 'JPY',
  payee: 'ACME Ltd',
  ...over,
});

/** The problem a call throws (failing when it does not throw one). */
async function problemOf(call: Promise<unknown>): Promise<OtpProblemError> {
  const err = await call.then(
    () => new Error('expected an OtpProblemError, the call succeeded'),
    (e: unknown) => e,
  );
  if (!(err instanceof OtpProblemError)) throw err;
  return err;
}

describe('@otp-verify/client against the service', () => {
  let s: SmsStack;
  let caller: { key: string; clientId: string; webhookSecret: string };
  let otp: OtpClient;

  beforeAll(async () => {
    s = await startSmsStack({ env: { THROTTLE_LIMIT: '100000' } });
    caller = await createWebhookCaller(s.t, s.hooks);
    otp = createOtpClient({ baseUrl: s.t.url, apiKey: caller.key });
  });
  afterAll(async () => s?.close());

  it('runs the example payment flow: code sent once, a wrong code, the right one, the signed webhook', async () => {
    const app = paymentConfirmation({ baseUrl: `${s.t.url}/`, apiKey: caller.key, webhookSecret: caller.webhookSecret });
    const p = payment();
    const begun = await app.begin(p);
    if (!('verificationId' in begun)) throw new Error(`refused: ${begun.refused.join(', ')}`);
    // asked again (a double click): the same verification, and still one message
    expect(await app.begin(p)).toEqual(begun);
    const code = await codeSentTo(s.sms, p.phone);
    expect(messagesTo(s.sms, p.phone)).toHaveLength(1);
    expect(messagesTo(s.sms, p.phone)[0].json.text).toContain('ACME Ltd');

    const wrong = code === '000000' ? '111111' : '000000';
    expect(await app.confirm(begun.verificationId, wrong, p)).toBe('wrong_code');
    // the right code for another amount is a wrong code too (dynamic linking)
    expect(await app.confirm(begun.verificationId, code, { ...p, amount: '990000' })).toBe('wrong_code');
    expect(await app.confirm(begun.verificationId, code, p)).toBe('approved');
    expect(await app.confirm(begun.verificationId, code, p)).toBe('closed');

    const hook = await waitFor(() => webhooksFor(s.hooks, begun.verificationId).find((h) => h.json.type === 'verification.approved'), { what: 'the approved webhook' });
    const event = app.onWebhook(hook.headers, hook.body);
    expect(event).toMatchObject({ type: 'verification.approved', data: { id: begun.verificationId, status: 'approved', reference: p.id } });
    expect(event.id).toBe(hook.headers['webhook-id']);
    // the example refuses what the service did not sign
    expect(() => app.onWebhook(hook.headers, hook.body.replace('approved', 'denied'))).toThrow(WebhookVerificationError);
  });

  it('answers a refused number with the reasons, through the example', async () => {
    const admin = await s.t.createClient(['admin']);
    const phone = freshPhone();
    const added = await s.t.request('POST', '/v1/admin/blocklist', { key: admin.key, body: { number: phone, reason: 'client package test' } });
    expect(added.status).toBe(201);
    const app = paymentConfirmation({ baseUrl: s.t.url, apiKey: caller.key, webhookSecret: caller.webhookSecret });
    expect(await app.begin(payment({ phone }))).toEqual({ refused: ['blocklisted'] });
    expect(messagesTo(s.sms, phone)).toHaveLength(0);
  });

  it('start, get, resend, cancel: the verification object typed, every error a typed problem', async () => {
    const phone = freshPhone();
    const started = await otp.start({ phoneNumber: phone, purpose: 'login', reference: 'client-spec' });
    expect(started).toMatchObject({ status: 'pending', channel: 'sms', reference: 'client-spec', attemptsRemaining: expect.any(Number) });
    expect(await otp.get(started.id)).toMatchObject({ id: started.id, status: 'pending' });

    const tooSoon = await problemOf(otp.resend(started.id));
    expect([tooSoon.status, tooSoon.code]).toEqual([429, 'resend_too_soon']);
    expect(tooSoon.retryAfterSeconds).toBeGreaterThan(0);
    expect(tooSoon.problem.resendAvailableAt).toBe(started.resendAvailableAt);

    expect(await otp.cancel(started.id)).toMatchObject({ id: started.id, status: 'canceled' });
    const final = await problemOf(otp.cancel(started.id));
    expect([final.status, final.code, final.problem.verificationStatus]).toEqual([409, 'verification_not_pending', 'canceled']);

    const missing = await problemOf(otp.get('vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F'));
    expect([missing.status, missing.code]).toEqual([404, 'not_found']);

    const invalid = await problemOf(otp.start({ phoneNumber: phone, purpose: 'Not A Purpose' }));
    expect([invalid.status, invalid.code]).toEqual([400, 'validation_failed']);
    expect(invalid.problem.errors).toEqual([expect.objectContaining({ field: 'purpose' })]);

    const badCode = await problemOf(otp.check(started.id, { code: '12' }));
    expect([badCode.status, badCode.code]).toEqual([400, 'validation_failed']);

    const noKey = await problemOf(createOtpClient({ baseUrl: s.t.url, apiKey: 'otp_nope_nope' }).get(started.id));
    expect([noKey.status, noKey.code]).toEqual([401, 'unauthorized']);
  });

  it('sends an Idempotency-Key with every start and reuses it when the answer is lost: one verification, one code', async () => {
    const keys: string[] = [];
    let lost = 0;
    // the service takes the first request, then the connection drops before the answer arrives
    const flaky: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      if (request.method === 'POST' && new URL(request.url).pathname === '/v1/verifications') keys.push(request.headers.get('idempotency-key') ?? '');
      const response = await fetch(request);
      if (lost++ === 0) throw new TypeError('fetch failed');
      return response;
    };
    const client = createOtpClient({ baseUrl: s.t.url, apiKey: caller.key, fetch: flaky });
    const phone = freshPhone();
    const v = await client.start({ phoneNumber: phone, purpose: 'login' });
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(keys[1]).toBe(keys[0]);
    await codeSentTo(s.sms, phone);
    expect(messagesTo(s.sms, phone)).toHaveLength(1);
    expect(await client.get(v.id)).toMatchObject({ id: v.id, sendsRemaining: v.sendsRemaining });

    // a new start is a new key; a key given is used as is; with retries off the lost answer is the caller's error
    const once = createOtpClient({ baseUrl: s.t.url, apiKey: caller.key, fetch: flaky, startRetries: 0 });
    lost = 0;
    await expect(once.start({ phoneNumber: freshPhone(), purpose: 'login' }, { idempotencyKey: 'order-42' })).rejects.toThrow('fetch failed');
    expect(keys.slice(2)).toEqual(['order-42']);
    const reused = await problemOf(client.start({ phoneNumber: freshPhone(), purpose: 'login' }, { idempotencyKey: 'order-42' }));
    expect([reused.status, reused.code]).toEqual([409, 'idempotency_key_reused']);
  });

  it('verifyWebhook takes Node headers or fetch Headers, and refuses another secret or a missing header', async () => {
    const hook = await waitFor(() => s.hooks.received.find((h) => h.headers['webhook-id']), { what: 'a webhook' });
    const asHeaders = new Headers(Object.entries(hook.headers).map(([k, v]) => [k, String(v)] as [string, string]));
    expect(verifyWebhook(asHeaders, hook.body, caller.webhookSecret).id).toBe(hook.headers['webhook-id']);
    expect(() => verifyWebhook(hook.headers, hook.body, 'whsec_' + Buffer.from('another secret of 32 bytes......').toString('base64'))).toThrow(WebhookVerificationError);
    const { 'webhook-signature': _dropped, ...unsigned } = hook.headers;
    expect(() => verifyWebhook(unsigned, hook.body, caller.webhookSecret)).toThrow(/webhook-signature/);
  });
});
