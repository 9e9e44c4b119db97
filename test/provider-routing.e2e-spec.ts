// Issue 11: Twilio primary, Vonage secondary. The real providers and vendor SDKs over real HTTP against the fake
// Twilio and fake Vonage (fault modes, signed receipts sent back), the real app on a real PostgreSQL.
import { Client } from 'pg';
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import { VerificationsRepository } from '../src/issuance/verifications.repository';
import { startFakeServer, FakeServer } from './support/fake-http';
import { FakeTwilio, startFakeTwilio } from './support/fake-twilio';
import { FakeVonage, startFakeVonage } from './support/fake-vonage';
import { freshPhone } from './support/phones';
import { codeOf, webhooksFor } from './support/scenario';
import { Stack, startStack } from './support/stack';
import { waitFor } from './support/wait';
import { assertWebhooksVerify } from './support/webhooks';

interface Vendors {
  twilio: FakeTwilio;
  vonage: FakeVonage;
  hooks: FakeServer;
  s: Stack;
  caller: { key: string };
  close(): Promise<void>;
}

/** Both fakes, a webhook receiver, and the service routing SMS over twilio then vonage. */
async function startVendors(env: Record<string, string> = {}): Promise<Vendors> {
  const twilio = await startFakeTwilio();
  const vonage = await startFakeVonage();
  const hooks = await startFakeServer();
  const s = await startStack({
    env: {
      ...twilio.env(),
      ...vonage.env(),
      SMS_PROVIDER: 'twilio,vonage',
      VOICE_PROVIDER: 'twilio,vonage',
      // A leg's timeout well above a loaded CI machine's answer time (one 500 took over 400 ms with the whole suite
      // running), and the budget room for a timed-out leg plus the next.
      PROVIDER_TIMEOUT_MS: '1000',
      PROVIDER_SEND_BUDGET_MS: '4000',
      PROVIDER_CIRCUIT_FAILURES: '100',
      OUTBOX_POLL_INTERVAL_MS: '600000', // no background retries: a test polls itself
      PROVIDER_RATE_LIMITS: 'twilio.voice=0,vonage.voice=0',
      ...env,
    },
  });
  twilio.deliverTo = s.t.url;
  vonage.deliverTo = s.t.url;
  const caller = await s.t.createClient(['verifications:write', 'verifications:check', 'audit:read']);
  return {
    twilio,
    vonage,
    hooks,
    s,
    caller,
    async close() {
      try {
        const rows = await s.db.query<{ s: string | null; p: string | null }>(`SELECT webhook_secret AS s, previous_webhook_secret AS p FROM api_clients`);
        assertWebhooksVerify(hooks.received, rows.flatMap((r) => [r.s, r.p]).filter((x): x is string => !!x));
      } finally {
        await s.close();
        await twilio.close();
        await vonage.close();
        await hooks.close();
      }
    },
  };
}

describe('routing: Twilio primary, Vonage secondary', () => {
  let v: Vendors;
  beforeAll(async () => {
    v = await startVendors();
  });
  afterAll(async () => v?.close());
  afterEach(() => {
    v.twilio.sms.reset();
    v.vonage.sms.reset();
  });

  const start = async (body: Record<string, unknown> = {}) => {
    const phone = freshPhone();
    const res = await v.s.t.request('POST', '/v1/verifications', { key: v.caller.key, body: { phoneNumber: phone, purpose: 'login', callbackUrl: `${v.hooks.url}/hooks`, ...body } });
    expect(res.status).toBe(201);
    return { id: res.body.id as string, phone };
  };
  const outbox = async (id: string) => (await v.s.db.query<any>(`SELECT * FROM outbox WHERE verification_id = $1 AND kind IN ('sms', 'voice')`, [id]))[0];
  const legs = async (outboxId: string) =>
    v.s.db.query<{ attempt: number; leg: number; provider: string; outcome: string; status_code: number | null }>(
      `SELECT attempt, leg, provider, outcome, status_code FROM outbox_attempts WHERE outbox_id = $1 ORDER BY attempt, leg`,
      [outboxId],
    );
  const settled = (id: string) => waitFor(async () => ((await outbox(id))?.status !== 'sending' ? outbox(id) : undefined), { what: `the message of ${id} to be settled` });
  const twilioMessagesTo = (phone: string) => v.twilio.messages.filter((m) => m.form.To === phone);
  const vonageMessagesTo = (phone: string) => v.vonage.messages.filter((m) => m.json?.to === phone.slice(1));
  const view = async (id: string) => (await v.s.t.request('GET', `/v1/verifications/${id}`, { key: v.caller.key })).body;

  it('Twilio answering 500 → the message goes through Vonage within the budget, with the outbox id as client_ref; its code approves', async () => {
    v.twilio.sms.plan = () => 'error-500';
    const started = Date.now();
    const { id, phone } = await start();
    const row = await settled(id);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(twilioMessagesTo(phone).map((m) => m.answer.status)).toEqual([500]);
    const [sent] = vonageMessagesTo(phone);
    expect(sent.json.client_ref).toBe(row.id);
    expect(row).toMatchObject({ status: 'done', provider: 'vonage', provider_message_id: sent.uuid, attempts: 1 });
    expect(await legs(row.id)).toEqual([
      { attempt: 1, leg: 0, provider: 'twilio', outcome: 'retryable', status_code: 500 },
      { attempt: 1, leg: 1, provider: 'vonage', outcome: 'accepted', status_code: null },
    ]);
    const check = await v.s.t.request('POST', `/v1/verifications/${id}/check`, { key: v.caller.key, body: { code: codeOf(sent.json.text, 6) } });
    expect(check.body).toMatchObject({ status: 'approved', valid: true });
  });

  it('Twilio hanging → Vonage after the timeout (the Twilio leg recorded as unknown)', async () => {
    v.twilio.sms.plan = () => 'hang';
    const started = Date.now();
    const { id, phone } = await start();
    const row = await settled(id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(vonageMessagesTo(phone)).toHaveLength(1);
    expect((await legs(row.id)).map((l) => [l.provider, l.outcome])).toEqual([
      ['twilio', 'unknown'],
      ['vonage', 'accepted'],
    ]);
    expect(row.provider).toBe('vonage');
  });

  it('Twilio answering 429 with Retry-After → Vonage; Twilio is not called again until it has passed', async () => {
    // Only the first number's send is answered 429, Retry-After 4 s: the second send has to come within that time (on a
    // busy machine a start, its send over two providers and the outcome write can take over a second), and Twilio would
    // take it were it called.
    const throttled = freshPhone();
    v.twilio.sms.script(throttled, 'throttle-429', { retryAfter: 4 });
    const first = await start({ phoneNumber: throttled });
    await settled(first.id);
    const before = v.twilio.messages.length;
    const second = await start();
    const row = await settled(second.id);
    expect(v.twilio.messages.length).toBe(before); // kept aside during its Retry-After
    expect((await legs(row.id)).map((l) => [l.provider, l.outcome])).toEqual([
      ['twilio', 'rate_limited'],
      ['vonage', 'accepted'],
    ]);
    await new Promise((r) => setTimeout(r, 4100));
    const third = await start();
    expect((await settled(third.id)).provider).toBe('twilio');
  });

  it('a permanent error (invalid number) ends the message and the verification failed: one webhook, no other provider, no retries', async () => {
    v.twilio.sms.plan = () => 'invalid-number';
    const { id, phone } = await start();
    await waitFor(async () => (await view(id)).status === 'failed', { what: 'the verification to fail' });
    const row = await outbox(id);
    expect(row).toMatchObject({ status: 'failed', delivery_status: 'failed', attempts: 1, last_error: 'HTTP 400 (Twilio error 21211: invalid number)' });
    expect(await legs(row.id)).toEqual([{ attempt: 1, leg: 0, provider: 'twilio', outcome: 'permanent', status_code: 400 }]);
    // no retry, by anyone, later
    await v.s.db.query(`UPDATE outbox SET next_attempt_at = now() - interval '1 hour' WHERE status = 'pending'`);
    await v.s.t.app.get(OutboxDispatcher).pollOnce();
    await waitFor(() => webhooksFor(v.hooks, id).length >= 1, { what: 'the verification.failed webhook' });
    await new Promise((r) => setTimeout(r, 200));
    expect(webhooksFor(v.hooks, id).map((h) => h.json.type)).toEqual(['verification.failed']);
    expect(twilioMessagesTo(phone)).toHaveLength(1);
    expect(vonageMessagesTo(phone)).toHaveLength(0);
    expect((await view(id)).delivery).toMatchObject({ status: 'failed', provider: 'twilio' });
  });

  it('a malformed 2xx body counts as accepted: sent once, never resent, no provider id', async () => {
    const phone = freshPhone();
    v.twilio.sms.script(phone, 'malformed', { noReceipts: true }); // (a receipt would tell the sid: see below)
    const { id } = await start({ phoneNumber: phone });
    const row = await settled(id);
    expect(row).toMatchObject({ status: 'done', provider: 'twilio', provider_message_id: null, delivery_status: 'sent' });
    expect(twilioMessagesTo(phone)).toHaveLength(1);
    expect(vonageMessagesTo(phone)).toHaveLength(0);
    // with receipts, the first one fills in the sid the answer did not give
    const other = freshPhone();
    v.twilio.sms.script(other, 'malformed');
    const second = await start({ phoneNumber: other });
    await settled(second.id);
    await v.twilio.settled();
    expect(await outbox(second.id)).toMatchObject({ provider_message_id: twilioMessagesTo(other)[0].sid, delivery_status: 'delivered' });
  });

  describe('delivery receipts', () => {
    const webhookTypes = (id: string) => webhooksFor(v.hooks, id).map((h) => h.json.type);
    const audit = async (id: string) =>
      (await v.s.db.query<{ type: string }>(`SELECT type FROM audit_events WHERE verification_id = $1 AND type LIKE 'message.%' ORDER BY occurred_at`, [id])).map((r) => r.type);

    it('Twilio: signed receipts move delivery.status to delivered; one message.delivered webhook and audit event', async () => {
      const { id, phone } = await start();
      await settled(id);
      await v.twilio.settled();
      const [msg] = twilioMessagesTo(phone);
      const callbacks = v.twilio.smsCallbacks.filter((c) => c.sid === msg.sid);
      expect(callbacks.map((c) => [c.params.MessageStatus, c.answer.status])).toEqual([
        ['sent', 204],
        ['delivered', 204],
      ]);
      await waitFor(() => webhookTypes(id).length >= 1, { what: 'the message.delivered webhook' });
      expect(webhookTypes(id)).toEqual(['message.delivered']);
      expect(webhooksFor(v.hooks, id)[0].json.data.delivery).toMatchObject({ status: 'delivered', provider: 'twilio' });
      expect((await view(id)).delivery).toMatchObject({ status: 'delivered', provider: 'twilio' });
      expect(await audit(id)).toEqual(['message.queued', 'message.sent', 'message.delivered']);
    });

    it('duplicates and an older status arriving last never move it back, nor send a second webhook', async () => {
      const phone = freshPhone();
      v.twilio.sms.script(phone, 'ok', { duplicate: true, outOfOrder: true });
      const { id } = await start({ phoneNumber: phone });
      await settled(id);
      await v.twilio.settled();
      const sid = twilioMessagesTo(phone)[0].sid;
      expect(v.twilio.smsCallbacks.filter((c) => c.sid === sid).map((c) => c.params.MessageStatus)).toEqual(['delivered', 'delivered', 'sent', 'sent']);
      await waitFor(() => webhookTypes(id).length >= 1, { what: 'the webhook' });
      await new Promise((r) => setTimeout(r, 200));
      expect((await outbox(id)).delivery_status).toBe('delivered');
      expect(webhookTypes(id)).toEqual(['message.delivered']);
    });

    it('a database error while a receipt is applied is an error answer, not a 2xx that saved nothing; the same receipt again applies', async () => {
      const phone = freshPhone();
      // The webhook's read of the verification fails in the database, once, for this number's receipt.
      const real = VerificationsRepository.prototype.findOwn;
      let failed = 0;
      const spy = jest.spyOn(VerificationsRepository.prototype, 'findOwn').mockImplementation(async function (this: VerificationsRepository, q, vid, cid, forUpdate) {
        const row = await real.call(this, q, vid, cid, forUpdate);
        if (row.phoneE164 === phone && failed++ === 0) await q.query('SELECT 1 / 0');
        return row;
      });
      try {
        const { id } = await start({ phoneNumber: phone });
        await settled(id);
        await v.twilio.settled();
        const sid = twilioMessagesTo(phone)[0].sid;
        const delivered = v.twilio.smsCallbacks.find((c) => c.sid === sid && c.params.MessageStatus === 'delivered')!;
        expect(delivered.answer.status).toBeGreaterThanOrEqual(500);
        expect(failed).toBe(1);
        expect((await outbox(id)).delivery_status).toBe('sent');
        expect(await audit(id)).toEqual(['message.queued', 'message.sent']);

        const path = delivered.url.slice(v.twilio.publicBaseUrl.length);
        const again = await v.s.t.request('POST', path, {
          rawBody: new URLSearchParams(delivered.params).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': delivered.signature },
        });
        expect(again.status).toBe(204);
        expect((await outbox(id)).delivery_status).toBe('delivered');
        expect(await audit(id)).toEqual(['message.queued', 'message.sent', 'message.delivered']);
        await waitFor(() => webhookTypes(id).length >= 1, { what: 'the message.delivered webhook' });
        expect(webhookTypes(id)).toEqual(['message.delivered']);
      } finally {
        spy.mockRestore();
      }
    });

    it('a receipt that comes before the retry that sent the message is recorded (the row still names the failed try\'s provider) is applied', async () => {
      const phone = freshPhone();
      // The first try fails at both providers; the retry goes through Twilio.
      v.twilio.sms.script(phone, 'error-500');
      v.vonage.sms.script(phone, 'error-500');
      const { id } = await start({ phoneNumber: phone });
      expect((await settled(id)).status).toBe('pending');
      v.twilio.sms.script(phone, 'ok');

      const psql = new Client({ connectionString: v.s.db.url });
      await psql.connect();
      try {
        // The retry's outcome waits to be written (its statement also writes outbox_attempts) while Twilio's receipts come.
        await psql.query('BEGIN; LOCK TABLE outbox_attempts IN SHARE MODE');
        // the retry is due now (its delay is jittered)
        await v.s.db.query(`UPDATE outbox SET next_attempt_at = now() - interval '1 hour' WHERE verification_id = $1 AND status = 'pending'`, [id]);
        const polled = v.s.t.app.get(OutboxDispatcher).pollOnce();
        const sid = (await waitFor(() => twilioMessagesTo(phone).find((m) => m.answer.status === 201), { what: 'the retry accepted by Twilio' })).sid;
        await waitFor(() => v.twilio.smsCallbacks.filter((c) => c.sid === sid).length === 2, { what: 'both receipts answered' });
        expect(v.twilio.smsCallbacks.filter((c) => c.sid === sid).map((c) => c.answer.status)).toEqual([204, 204]);
        await psql.query('COMMIT');
        await polled;
      } finally {
        await psql.query('ROLLBACK').catch(() => undefined);
        await psql.end();
      }
      expect(await outbox(id)).toMatchObject({ status: 'done', provider: 'twilio', delivery_status: 'delivered' });
      await waitFor(() => webhookTypes(id).length >= 1, { what: 'the message.delivered webhook' });
      expect(webhookTypes(id)).toEqual(['message.delivered']);
    });

    it('undelivered: delivery.status undelivered, one message.undelivered webhook, the verification stays pending', async () => {
      const phone = freshPhone();
      v.twilio.sms.script(phone, 'undelivered');
      const { id } = await start({ phoneNumber: phone });
      await settled(id);
      await v.twilio.settled();
      await waitFor(() => webhookTypes(id).length >= 1, { what: 'the webhook' });
      expect(webhookTypes(id)).toEqual(['message.undelivered']);
      expect(await view(id)).toMatchObject({ status: 'pending', delivery: { status: 'undelivered' } });
      const [event] = await v.s.db.query<{ data: any; actor_type: string }>(`SELECT data, actor_type FROM audit_events WHERE verification_id = $1 AND type = 'message.undelivered'`, [id]);
      expect(event).toMatchObject({ actor_type: 'provider', data: { provider: 'twilio', status: 'undelivered', errorCode: '30003' } });
    });

    it('forged Twilio receipts (another token) are 403 problem+json and change nothing', async () => {
      const phone = freshPhone();
      v.twilio.sms.script(phone, 'ok', { badSignature: true });
      const { id } = await start({ phoneNumber: phone });
      await settled(id);
      await v.twilio.settled();
      const sid = twilioMessagesTo(phone)[0].sid;
      const answers = v.twilio.smsCallbacks.filter((c) => c.sid === sid).map((c) => c.answer);
      expect(answers.map((a) => a.status)).toEqual([403, 403]);
      expect(answers[0].contentType).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(answers[0].body)).toMatchObject({ status: 403, code: 'forbidden' });
      expect((await outbox(id)).delivery_status).toBe('sent');
      expect(webhookTypes(id)).toEqual([]);
      expect(await audit(id)).toEqual(['message.queued', 'message.sent']);
    });

    it('a genuine Twilio receipt replayed for another message (its ref changed) is 403: the signature covers the URL', async () => {
      const { id, phone } = await start();
      await settled(id);
      await v.twilio.settled();
      const other = await start();
      const otherRow = await settled(other.id);
      const cb = v.twilio.smsCallbacks.find((c) => c.sid === twilioMessagesTo(phone)[0].sid && c.params.MessageStatus === 'delivered')!;
      const path = cb.url.slice(v.twilio.publicBaseUrl.length).replace(/ref=[^&]+/, `ref=${otherRow.id}`);
      const res = await v.s.t.request('POST', path, { rawBody: new URLSearchParams(cb.params).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': cb.signature } });
      expect(res.status).toBe(403);
    });

    it('Vonage: signed-JWT status webhooks move it to delivered; a forged one (another secret) is 403 and changes nothing', async () => {
      const good = freshPhone();
      const forged = freshPhone();
      v.twilio.sms.plan = () => 'error-500'; // both go through Vonage
      v.vonage.sms.script(forged, 'ok', { badSignature: true });
      const a = await start({ phoneNumber: good });
      const b = await start({ phoneNumber: forged });
      await settled(a.id);
      await settled(b.id);
      await v.vonage.settled();
      const answersFor = (phone: string) => v.vonage.webhooks.filter((w) => w.uuid === vonageMessagesTo(phone)[0].uuid).map((w) => w.answer.status);
      expect(answersFor(good)).toEqual([204, 204]);
      expect(answersFor(forged)).toEqual([403, 403]);
      await waitFor(() => webhookTypes(a.id).length >= 1, { what: 'the webhook' });
      expect((await view(a.id)).delivery).toMatchObject({ status: 'delivered', provider: 'vonage' });
      expect((await view(b.id)).delivery).toMatchObject({ status: 'sent', provider: 'vonage' });
      expect(webhookTypes(a.id)).toEqual(['message.delivered']);
      expect(webhookTypes(b.id)).toEqual([]);
      // a body changed under a genuine signature: 403 (the payload_hash no longer matches)
      const w = v.vonage.webhooks.find((x) => x.uuid === vonageMessagesTo(good)[0].uuid)!;
      const tampered = w.body.replace('"submitted"', '"delivered"');
      const res = await v.s.t.request('POST', '/v1/callbacks/vonage/status', { rawBody: tampered, headers: { 'content-type': 'application/json', authorization: w.authorization } });
      expect(res.status).toBe(403);
    });
  });

  it('channel voice: Twilio places a call whose TwiML reads the code (twice, slowly); checking that code approves', async () => {
    const { id, phone } = await start({ channel: 'voice' });
    const row = await settled(id);
    expect(row).toMatchObject({ status: 'done', provider: 'twilio' });
    const req = v.twilio.requests.find((r) => r.form.some(([k, val]) => k === 'To' && val === phone))!;
    expect(req.twiml!.says).toHaveLength(2);
    expect(req.twiml!.says[0]).toBe(req.twiml!.says[1]);
    expect(new Map(req.form).get('Twiml')).toContain('<prosody rate="slow">');
    const code = req.twiml!.says[0].match(/\d/g)!.join('').slice(0, 6);
    const check = await v.s.t.request('POST', `/v1/verifications/${id}/check`, { key: v.caller.key, body: { code } });
    expect(check.body).toMatchObject({ status: 'approved', valid: true });
  });
});

describe('routing: circuit breaker (Twilio primary, Vonage secondary)', () => {
  let v: Vendors;
  beforeAll(async () => {
    // a half-open wait long enough for the sends below while the circuit is open (each a start, a send and its outcome
    // write: on a busy machine three took over 1.5 s), so that none of them is the probe
    v = await startVendors({ PROVIDER_CIRCUIT_FAILURES: '3', PROVIDER_CIRCUIT_HALF_OPEN_MS: '5000' });
  });
  afterAll(async () => v?.close());

  const metric = async (name: string) => (await v.s.t.request('GET', '/metrics')).text.split('\n').filter((l) => l.startsWith(name));

  it('after N failures Twilio\'s circuit opens and sends go straight to Vonage; after the wait one probe succeeds and closes it', async () => {
    v.twilio.sms.plan = () => 'error-500';
    for (let i = 0; i < 3; i++) expect((await sendDone()).provider).toBe('vonage');
    expect(v.twilio.messages).toHaveLength(3);
    expect(await metric('otp_provider_circuit_state{provider="twilio",channel="sms"}')).toEqual(['otp_provider_circuit_state{provider="twilio",channel="sms"} 1']);

    // open: Twilio is not called at all
    for (let i = 0; i < 3; i++) expect((await sendDone()).provider).toBe('vonage');
    expect(v.twilio.messages).toHaveLength(3);

    // after the half-open wait, one probe: Twilio is healthy again, takes it, and the circuit closes
    v.twilio.sms.plan = null;
    await new Promise((r) => setTimeout(r, 5100));
    expect((await sendDone()).provider).toBe('twilio');
    expect(await metric('otp_provider_circuit_state{provider="twilio",channel="sms"}')).toEqual(['otp_provider_circuit_state{provider="twilio",channel="sms"} 0']);
    expect((await sendDone()).provider).toBe('twilio');
    expect(v.twilio.messages).toHaveLength(5);

    const outcomes = await metric('otp_provider_outcomes_total{provider="twilio",channel="sms"');
    expect(outcomes).toEqual(
      expect.arrayContaining([
        'otp_provider_outcomes_total{provider="twilio",channel="sms",outcome="retryable"} 3',
        'otp_provider_outcomes_total{provider="twilio",channel="sms",outcome="circuit_open"} 3',
        'otp_provider_outcomes_total{provider="twilio",channel="sms",outcome="accepted"} 2',
      ]),
    );
    expect((await metric('otp_message_accept_delay_seconds_count')).join('\n')).toMatch(/provider="vonage",channel="sms"} 6/);
  });

  async function sendDone(): Promise<{ provider: string }> {
    const phone = freshPhone();
    const res = await v.s.t.request('POST', '/v1/verifications', { key: v.caller.key, body: { phoneNumber: phone, purpose: 'login' } });
    expect(res.status).toBe(201);
    return waitFor(
      async () => {
        const [row] = await v.s.db.query<{ provider: string; status: string }>(`SELECT provider, status FROM outbox WHERE verification_id = $1`, [res.body.id]);
        return row?.status === 'done' ? row : undefined;
      },
      { what: 'the message to be sent' },
    );
  }
});

describe('provider callbacks and readiness are not limited by address', () => {
  let v: Vendors;
  beforeAll(async () => {
    // A tiny budget per client and per address: the callbacks of two messages, and a few probes, pass it.
    v = await startVendors({ THROTTLE_LIMIT: '3' });
  });
  afterAll(async () => v?.close());

  it('every signed receipt is applied (never 429), and readiness answers 200 past the budget', async () => {
    const phones = [freshPhone(), freshPhone()];
    for (const phone of phones) {
      const res = await v.s.t.request('POST', '/v1/verifications', { key: v.caller.key, body: { phoneNumber: phone, purpose: 'login' } });
      expect(res.status).toBe(201);
    }
    await waitFor(() => v.twilio.smsCallbacks.length >= 4, { what: 'four receipts answered' });
    await v.twilio.settled();
    expect(v.twilio.smsCallbacks.map((c) => c.answer.status)).toEqual([204, 204, 204, 204]);
    for (let i = 0; i < 5; i++) expect((await v.s.t.request('GET', '/health/ready')).status).toBe(200);
  });
});
