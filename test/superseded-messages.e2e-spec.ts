// A code message whose code no longer works is never sent after the fact. A resend replaces the code, and a cancel ends
// the verification: a message of the old code that is being sent at that moment, or waiting for a retry, must not go
// out later (the person would type a dead code: an attempt spent, maybe the verification locked; and each is billed).
// A real PostgreSQL, a fake SMS provider over real HTTP that answers the first send late with a retryable 503.
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import type { TestApp } from './support/app';
import { FakeClock } from './support/fake-clock';
import { freshPhone } from './support/phones';
import { codeOf, messagesTo } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { waitFor } from './support/wait';

describe('code messages superseded while they are being sent or wait for a retry', () => {
  let s: SmsStack;
  let t: TestApp;
  let clock: FakeClock;
  let key: string;

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    // a hung send stays in flight (PROVIDER_TIMEOUT_MS, real time) while the second test resends and takes it over
    s = await startSmsStack({ env: { THROTTLE_LIMIT: '100000', OUTBOX_POLL_INTERVAL_MS: '3600000', PROVIDER_TIMEOUT_MS: '14000' }, clock });
    t = s.t;
    ({ key } = await t.createClient(['verifications:write', 'verifications:check']));
  });
  afterAll(async () => {
    await s?.close();
  });

  /** The first message to `phone` is answered 503 (retryable) after `delayMs`; every other one is accepted. */
  const firstFailsLate = (phone: string, delayMs: number) => {
    const earlier = s.sms.respond;
    s.sms.respond = (req, i) => {
      if (req.json?.to === phone && messagesTo(s.sms, phone).length === 1) return { status: 503, body: { error: 'try later' }, delayMs };
      return earlier(req, i);
    };
  };
  const rowsOf = (id: string) =>
    s.db.query<{ status: string; attempts: number }>(`SELECT status, attempts FROM outbox WHERE verification_id = $1 AND kind = 'sms' ORDER BY created_at`, [id]);
  /** Every retry that could be due is due, and the poller runs. */
  const laterRetries = async () => {
    clock.advance(90_000);
    await t.app.get(OutboxDispatcher).pollOnce();
  };

  it('resend while the first message is still being sent: its retryable failure does not bring the old code later', async () => {
    const phone = freshPhone();
    firstFailsLate(phone, 1500);
    const started = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phone, purpose: 'login' } });
    expect(started.status).toBe(201);
    await waitFor(() => messagesTo(s.sms, phone).length === 1, { what: 'the first message at the provider' });
    const oldCode = codeOf(messagesTo(s.sms, phone)[0].json.text);

    clock.advance(31_000);
    const resent = await t.request('POST', `/v1/verifications/${started.body.id}/resend`, { key });
    expect(resent.status).toBe(200);
    await waitFor(() => messagesTo(s.sms, phone).length === 2, { what: 'the resend\'s message at the provider' });
    const newCode = codeOf(messagesTo(s.sms, phone)[1].json.text);
    expect(newCode).not.toBe(oldCode);

    // The first send's 503 comes back now: its row is given up, not put back for a retry.
    await waitFor(async () => (await rowsOf(started.body.id))[0].status !== 'sending', { what: 'the first send answered' });
    expect((await rowsOf(started.body.id)).map((r) => r.status)).toEqual(['failed', 'done']);
    await laterRetries();
    expect(messagesTo(s.sms, phone)).toHaveLength(2);

    // The verification is unharmed: still pending, and the new code approves it.
    const check = await t.request('POST', `/v1/verifications/${started.body.id}/check`, { key, body: { code: newCode } });
    expect(check.body).toMatchObject({ status: 'approved', valid: true });
  });

  it('resend while the first message\'s instance is stuck on it: the takeover after its lease does not send the old code', async () => {
    const phone = freshPhone();
    const earlier = s.sms.respond;
    s.sms.respond = (req, i) => (req.json?.to === phone && messagesTo(s.sms, phone).length === 1 ? 'hang' : earlier(req, i));
    const started = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phone, purpose: 'login' } });
    await waitFor(() => messagesTo(s.sms, phone).length === 1, { what: 'the first message at the provider' });
    clock.advance(31_000);
    expect((await t.request('POST', `/v1/verifications/${started.body.id}/resend`, { key })).status).toBe(200);
    await waitFor(() => messagesTo(s.sms, phone).length === 2, { what: 'the resend\'s message at the provider' });

    // The first row's lease runs out (as if its instance had died): the poller takes it over and gives it up.
    clock.advance(120_000);
    await t.app.get(OutboxDispatcher).pollOnce();
    expect(messagesTo(s.sms, phone)).toHaveLength(2);
    const [first] = await s.db.query<{ status: string; last_error: string }>(
      `SELECT status, last_error FROM outbox WHERE verification_id = $1 AND kind = 'sms' ORDER BY created_at LIMIT 1`,
      [started.body.id],
    );
    expect(first).toEqual({ status: 'failed', last_error: expect.stringMatching(/^not sent: superseded/) });

    // The stuck send ends at last (its connection cut): its outcome is recorded as a try, and changes nothing else.
    const tries = async () =>
      (await s.db.query(`SELECT 1 FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id WHERE o.verification_id = $1 AND o.kind = 'sms'`, [started.body.id])).length;
    expect(await tries()).toBe(2); // the second message's, and the takeover's "not sent"
    s.sms.cutHanging();
    await waitFor(async () => (await tries()) === 3, {
      what: 'the stuck send\'s outcome recorded',
    });
    expect((await rowsOf(started.body.id)).map((r) => r.status)).toEqual(['failed', 'done']);
    expect(messagesTo(s.sms, phone)).toHaveLength(2);
  });

  it('cancel while the first message waits for a retry: the retry does not go out', async () => {
    const phone = freshPhone();
    firstFailsLate(phone, 0);
    const started = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phone, purpose: 'login' } });
    expect(started.status).toBe(201);
    await waitFor(async () => (await rowsOf(started.body.id))[0]?.status === 'pending', { what: 'the first message waiting for a retry' });

    const canceled = await t.request('POST', `/v1/verifications/${started.body.id}/cancel`, { key });
    expect(canceled.body.status).toBe('canceled');
    await laterRetries();
    expect(messagesTo(s.sms, phone)).toHaveLength(1);
    expect((await rowsOf(started.body.id)).map((r) => r.status)).toEqual(['failed']);
  });
});
