// A row whose outcome can never be written down stays `sending`, and each time its lease runs out another poll takes
// it over and sends it again. Takeovers count as tries: past MESSAGE_MAX_ATTEMPTS the row is given up, not sent, so
// a message whose success cannot be recorded reaches the person at most that many times, not once per lease forever,
// and its verification is not failed for it (the person may well hold the code).
// Here the fake provider accepts with a message id shaped like one of our own secrets (whsec_…), which the audit
// trail refuses to hold, so the statement recording the success fails every time.
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import type { TestApp } from './support/app';
import { FakeClock } from './support/fake-clock';
import { freshPhone } from './support/phones';
import { codeOf, messagesTo } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { waitFor } from './support/wait';

describe('outbox takeovers count as tries', () => {
  let s: SmsStack;
  let t: TestApp;
  let clock: FakeClock;

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    s = await startSmsStack({ env: { THROTTLE_LIMIT: '100000', OUTBOX_POLL_INTERVAL_MS: '3600000', MESSAGE_MAX_ATTEMPTS: '3' }, clock });
    t = s.t;
  });
  afterAll(async () => {
    await s?.close();
  });

  it('a message whose success cannot be recorded is sent at most MESSAGE_MAX_ATTEMPTS times, then given up', async () => {
    const { key } = await t.createClient(['verifications:write', 'verifications:check']);
    const phone = freshPhone();
    const earlier = s.sms.respond;
    s.sms.respond = (req, i) => (req.json?.to === phone ? { status: 200, body: { id: 'whsec_AAAAAAAAAAAAAAAAAAAAAAAA' } } : earlier(req, i));
    const started = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phone, purpose: 'login', ttlSeconds: 1800 } });
    expect(started.status).toBe(201);
    await waitFor(() => messagesTo(s.sms, phone).length === 1, { what: 'the first send' });
    await waitFor(() => t.logs.join('').includes('outbox dispatch failed'), { what: 'its success failing to be recorded' });

    // Leases run out one after another, each followed by a poll.
    for (let lease = 0; lease < 6; lease++) {
      clock.advance(120_000);
      await t.app.get(OutboxDispatcher).pollOnce();
    }
    expect(messagesTo(s.sms, phone)).toHaveLength(3);
    const [row] = await s.db.query<{ status: string; attempts: number; last_error: string }>(
      `SELECT status, attempts, last_error FROM outbox WHERE verification_id = $1 AND kind = 'sms'`,
      [started.body.id],
    );
    expect(row).toEqual({ status: 'failed', attempts: 4, last_error: expect.stringMatching(/^given up: /) });

    // Whether the last try reached the person is not known: the verification is not failed, and the code they got works.
    const code = codeOf(messagesTo(s.sms, phone)[2].json.text);
    expect((await t.request('GET', `/v1/verifications/${started.body.id}`, { key })).body.status).toBe('pending');
    const check = await t.request('POST', `/v1/verifications/${started.body.id}/check`, { key, body: { code } });
    expect(check.body).toMatchObject({ status: 'approved', valid: true });
  });
});
