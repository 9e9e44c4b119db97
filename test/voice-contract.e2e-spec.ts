// Issue 10, item 7: voice-contract checks through IVR, end to end. A client whose policy requires a voice contract
// starts a verification: 202 `screening`, the service calls the number through the (fake) Twilio, and what the call
// finds decides: the expected key releases the code SMS; a number the network twice says does not exist ends the
// verification `denied` (no_voice_contract) with one webhook; nobody pressing the key, after the retry, follows the
// client's onUnknown. Real HTTP both ways (Twilio's signed callbacks included), a real PostgreSQL, a moved clock.
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import type { TestApp } from './support/app';
import { FakeClock } from './support/fake-clock';
import { FakeCall, FakeTwilio, ScriptOptions, startFakeTwilio, TwilioScenario } from './support/fake-twilio';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { codeSentTo, messagesTo, webhooksFor } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { sleep, waitFor } from './support/wait';

const DAY = 86_400_000;
const RETRY_MS = 120_000;
const INBOUND_NUMBER = '+815012340000';

describe('voice-contract checks through IVR', () => {
  let fake: FakeTwilio;
  let s: SmsStack;
  let t: TestApp;
  let clock: FakeClock;
  let admin: { key: string };
  /** Policies: require with onUnknown deny; require with onUnknown allow; prefer; require only for purpose transfer. */
  let requireDeny: { key: string; clientId: string };
  let requireAllow: { key: string; clientId: string };
  let prefer: { key: string; clientId: string };
  let byPurpose: { key: string; clientId: string };
  let inbound: { key: string; clientId: string };

  beforeAll(async () => {
    fake = await startFakeTwilio();
    clock = new FakeClock(Date.now());
    // One retry (so "no answer twice" decides), and no background poller: the test moves the clock and polls.
    s = await startSmsStack({
      env: { ...fake.env(), THROTTLE_LIMIT: '100000', RISK_VOICE_CHECK_RETRIES: '1', OUTBOX_POLL_INTERVAL_MS: '3600000', RISK_INBOUND_CHECK_NUMBER: INBOUND_NUMBER },
      clock,
    });
    t = s.t;
    fake.deliverTo = t.url;
    admin = await t.createClient(['admin']);
    const client = async (voiceContract: Record<string, unknown>) => {
      const c = await t.createClient(['verifications:write', 'verifications:check']);
      const res = await t.request('PUT', `/v1/admin/clients/${c.clientId}/policy`, { key: admin.key, body: { voiceContract } });
      expect(res.status).toBe(200);
      return c;
    };
    requireDeny = await client({ default: 'require', onUnknown: 'deny' });
    requireAllow = await client({ default: 'require', onUnknown: 'allow' });
    prefer = await client({ default: 'prefer' });
    byPurpose = await client({ byPurpose: { transfer: 'require' } });
    inbound = await client({ default: 'require', method: 'ivr_inbound' });
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  const start = (key: string, phoneNumber: string, extra: Record<string, unknown> = {}) =>
    t.request('POST', '/v1/verifications', { key, body: { phoneNumber, purpose: 'login', callbackUrl: `${s.hooks.url}/hooks`, ...extra } });
  const get = (key: string, id: string) => t.request('GET', `/v1/verifications/${id}`, { key });
  const record = (e164: string) => t.request('GET', `/v1/admin/voice-contracts/${encodeURIComponent(e164)}`, { key: admin.key });
  const callsTo = (to: string) => fake.calls.filter((c) => c.to === to);
  /** Waits until `n` calls to `to` have played out at the fake Twilio (every callback answered). */
  const finishedCalls = (to: string, n: number): Promise<FakeCall[]> =>
    waitFor(() => (callsTo(to).filter((c) => c.finished).length >= n ? callsTo(to) : undefined), { timeoutMs: 10_000, what: `${n} finished calls to ${to}` });
  /** The retry delay passes and the poller places the due call. */
  const nextRetry = async () => {
    clock.advance(RETRY_MS);
    await t.app.get(OutboxDispatcher).pollOnce();
  };
  const decidedEvents = (checkId: string) =>
    s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'voice_contract.decided' AND data->>'checkId' = $1`, [checkId]);
  const scripted = (scenario: TwilioScenario, opts?: ScriptOptions) => {
    const phone = freshPhone();
    fake.script(phone, scenario, opts);
    return phone;
  };
  /** Settles the work started by the last callbacks (the released code's send, the webhook). */
  const settle = () => sleep(150);

  it('press 1: 202 screening, the call asks for the key, then the code SMS arrives and checking it approves', async () => {
    const phone = scripted('press');
    const res = await start(requireDeny.key, phone);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'screening', risk: { decision: 'screen', reasons: ['voice_contract_required'] }, delivery: null });
    const [call] = await finishedCalls(phone, 1);
    const request = fake.requests.find((r) => r.answer.body?.sid === call.sid)!;
    expect(request.twiml?.says[0]).toContain('1を押してください');
    expect(request.twiml?.gather?.numDigits).toBe(1);

    const code = await codeSentTo(s.sms, phone);
    const released = await get(requireDeny.key, res.body.id);
    expect(released.body).toMatchObject({ status: 'pending', risk: { decision: 'allow', reasons: [] }, sendsRemaining: 4 });
    // The code's lifetime counts from its send.
    expect(Date.parse(released.body.expiresAt)).toBe(clock.now().getTime() + 300_000);
    const check = await t.request('POST', `/v1/verifications/${res.body.id}/check`, { key: requireDeny.key, body: { code } });
    expect(check.body).toMatchObject({ status: 'approved', valid: true });

    const rec = await record(phone);
    expect(rec.status).toBe(200);
    expect(rec.body).toMatchObject({ phoneNumber: `+81*******${phone.slice(-4)}`, status: 'confirmed', method: 'ivr_outbound', provider: 'twilio', callId: call.sid });
    expect(Date.parse(rec.body.expiresAt) - Date.parse(rec.body.checkedAt)).toBe(90 * DAY);
    expect(rec.body.history).toHaveLength(1);
    expect(rec.body.history[0].calls).toEqual([{ provider: 'twilio', callId: call.sid, outcome: 'key_pressed', sipResponseCode: 200, endedAt: expect.any(String) }]);
    expect(await decidedEvents(rec.body.history[0].checkId)).toHaveLength(1);
  });

  it('unallocated: absent only after the confirming call, then denied with no_voice_contract, exactly one webhook and no SMS', async () => {
    const phone = scripted('unallocated');
    const res = await start(requireDeny.key, phone);
    expect(res.status).toBe(202);
    await finishedCalls(phone, 1);
    // One "no such number" is not enough: the check waits for its confirming call.
    expect((await record(phone)).body).toMatchObject({ status: 'checking' });
    expect((await get(requireDeny.key, res.body.id)).body.status).toBe('screening');

    await nextRetry();
    await finishedCalls(phone, 2);
    await waitFor(async () => (await get(requireDeny.key, res.body.id)).body.status === 'denied', { what: 'the verification denied' });
    // the webhook goes after the commit: the first one, then a moment for any other
    await waitFor(() => webhooksFor(s.hooks, res.body.id).length > 0, { what: 'the denial webhook' });
    await settle();
    const denied = await get(requireDeny.key, res.body.id);
    expect(denied.body.risk).toEqual({ decision: 'deny', reasons: ['no_voice_contract'] });
    const hooks = webhooksFor(s.hooks, res.body.id);
    expect(hooks.map((h) => h.json.type)).toEqual(['verification.denied']);
    expect(hooks[0].json.data).toMatchObject({ id: res.body.id, status: 'denied', risk: { decision: 'deny', reasons: ['no_voice_contract'] } });
    expect(messagesTo(s.sms, phone)).toEqual([]);
    const rec = (await record(phone)).body;
    expect(rec).toMatchObject({ status: 'absent' });
    expect(rec.history[0].calls.map((c: { outcome: string }) => c.outcome)).toEqual(['unallocated', 'unallocated']);
    expect(Date.parse(rec.expiresAt) - Date.parse(rec.checkedAt)).toBe(7 * DAY);

    // While the absent record is fresh, a start is refused at once, with no call.
    const again = await start(requireDeny.key, phone);
    expectProblem(again, 403, 'risk_denied');
    expect(again.body.reasons).toEqual(['no_voice_contract']);
    expect(callsTo(phone)).toHaveLength(2);
  });

  it('a number the provider refuses to call (Twilio 21217) is confirmed absent the same way', async () => {
    const phone = scripted('create-error', { error: { status: 400, code: 21217, message: 'Phone number does not appear to be valid' } });
    const res = await start(requireDeny.key, phone);
    expect(res.status).toBe(202);
    await waitFor(async () => (await record(phone)).body.history[0]?.calls.length === 1, { what: 'the refused call recorded' });
    await nextRetry();
    await waitFor(async () => (await get(requireDeny.key, res.body.id)).body.status === 'denied', { what: 'the verification denied' });
    const rec = (await record(phone)).body;
    expect(rec.status).toBe('absent');
    expect(rec.history[0].calls).toEqual([
      expect.objectContaining({ callId: null, outcome: 'unallocated' }),
      expect.objectContaining({ callId: null, outcome: 'unallocated' }),
    ]);
    expect(fake.requests.filter((r) => r.form.some(([k, v]) => k === 'To' && v === phone)).map((r) => r.answer.status)).toEqual([400, 400]);
  });

  it('voicemail never confirms: after the retry the check is unknown, and onUnknown deny denies with voice_contract_unknown', async () => {
    const phone = scripted('voicemail');
    const res = await start(requireDeny.key, phone);
    await finishedCalls(phone, 1);
    expect((await record(phone)).body.status).toBe('checking');
    await nextRetry();
    await finishedCalls(phone, 2);
    await waitFor(async () => (await get(requireDeny.key, res.body.id)).body.status === 'denied', { what: 'the verification denied' });
    // the webhook goes after the commit: the first one, then a moment for any other
    await waitFor(() => webhooksFor(s.hooks, res.body.id).length > 0, { what: 'the denial webhook' });
    await settle();
    expect((await get(requireDeny.key, res.body.id)).body.risk.reasons).toEqual(['voice_contract_unknown']);
    const rec = (await record(phone)).body;
    expect(rec.status).toBe('unknown');
    expect(rec.history[0].calls.map((c: { outcome: string }) => c.outcome)).toEqual(['voicemail', 'voicemail']);
    expect(messagesTo(s.sms, phone)).toEqual([]);
    expect(webhooksFor(s.hooks, res.body.id).map((h) => h.json.type)).toEqual(['verification.denied']);
  });

  it('a wrong key is no confirmation either', async () => {
    const phone = scripted('wrong-key');
    const res = await start(requireDeny.key, phone);
    await finishedCalls(phone, 1);
    await nextRetry();
    await finishedCalls(phone, 2);
    await waitFor(async () => (await get(requireDeny.key, res.body.id)).body.status === 'denied', { what: 'the verification denied' });
    expect((await record(phone)).body.status).toBe('unknown');
  });

  it('no answer twice: onUnknown allow sends the code after all', async () => {
    const phone = scripted('no-answer');
    const res = await start(requireAllow.key, phone);
    expect(res.status).toBe(202);
    await finishedCalls(phone, 1);
    await nextRetry();
    await finishedCalls(phone, 2);
    const code = await codeSentTo(s.sms, phone);
    const after = await get(requireAllow.key, res.body.id);
    expect(after.body).toMatchObject({ status: 'pending', risk: { decision: 'allow', reasons: ['voice_contract_unknown'] } });
    expect((await t.request('POST', `/v1/verifications/${res.body.id}/check`, { key: requireAllow.key, body: { code } })).body.status).toBe('approved');
    expect((await record(phone)).body.status).toBe('unknown');
  });

  it('duplicate and out-of-order callbacks decide the check once', async () => {
    const phone = scripted('press', { duplicate: true, outOfOrder: true });
    const res = await start(requireDeny.key, phone);
    await finishedCalls(phone, 1);
    await codeSentTo(s.sms, phone);
    await settle();
    expect(messagesTo(s.sms, phone)).toHaveLength(1);
    const rec = (await record(phone)).body;
    expect(rec.status).toBe('confirmed');
    expect(await decidedEvents(rec.history[0].checkId)).toHaveLength(1);
    expect((await get(requireDeny.key, res.body.id)).body.status).toBe('pending');
  });

  it('forged callbacks are 403 and change nothing: the check stays open and the verification waits', async () => {
    const phone = scripted('press', { badSignature: true });
    const res = await start(requireDeny.key, phone);
    const [call] = await finishedCalls(phone, 1);
    expect(fake.callbacks.filter((c) => c.callSid === call.sid).every((c) => c.answer.status === 403)).toBe(true);
    expect((await record(phone)).body).toMatchObject({ status: 'checking' });
    expect((await get(requireDeny.key, res.body.id)).body.status).toBe('screening');
    expect(messagesTo(s.sms, phone)).toEqual([]);
  });

  it('prefer: the code goes at once, and the check runs beside it and is recorded', async () => {
    const phone = scripted('press');
    const res = await start(prefer.key, phone);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'pending', risk: { decision: 'allow', reasons: [] } });
    await codeSentTo(s.sms, phone);
    await finishedCalls(phone, 1);
    await waitFor(async () => (await record(phone)).body.status === 'confirmed', { what: 'the record confirmed' });
    expect(messagesTo(s.sms, phone)).toHaveLength(1);
  });

  it('a policy per purpose: login needs no check, transfer requires one', async () => {
    const phone = scripted('press');
    const login = await start(byPurpose.key, phone);
    expect(login.status).toBe(201);
    expect(callsTo(phone)).toHaveLength(0);
    const transfer = await start(byPurpose.key, phone, { purpose: 'transfer' });
    expect(transfer.status).toBe(202);
    await finishedCalls(phone, 1);
  });

  it.each(['constructor', '__proto__'])('a purpose named like an object built-in (%s) gets the default mode, not a way around it', async (purpose) => {
    const phone = scripted('press');
    const res = await start(requireDeny.key, phone, { purpose });
    expect([res.status, res.body.status, res.body.risk?.decision]).toEqual([202, 'screening', 'screen']);
    await finishedCalls(phone, 1);
  });

  it('a code read out by a call and approved records the contract (voice_otp), with no IVR call', async () => {
    const phone = scripted('silence');
    const res = await start(requireDeny.key, phone, { channel: 'voice' });
    expect(res.status).toBe(201);
    const [call] = await finishedCalls(phone, 1);
    const says = fake.requests.find((r) => r.answer.body?.sid === call.sid)!.twiml!.says[0];
    expect(fake.requests.find((r) => r.answer.body?.sid === call.sid)!.twiml!.gather).toBeNull();
    const code = /\d(?:、\d)+/.exec(says)![0].replace(/、/g, '');
    expect((await t.request('POST', `/v1/verifications/${res.body.id}/check`, { key: requireDeny.key, body: { code } })).body.status).toBe('approved');
    expect((await record(phone)).body).toMatchObject({ status: 'confirmed', method: 'voice_otp', callId: null });
  });

  it('inbound check: the person calls the service\'s number from the phone; only that caller id, within the window, releases the code', async () => {
    const phone = freshPhone();
    const res = await start(inbound.key, phone);
    expect(res.status).toBe(202);
    const callBy = new Date(clock.now().getTime() + 120_000).toISOString();
    expect(res.body).toMatchObject({ status: 'screening', expiresAt: callBy, risk: { decision: 'screen', reasons: ['voice_contract_required'], inboundCall: { callTo: INBOUND_NUMBER, callBy } } });
    expect(callsTo(phone)).toHaveLength(0);

    // Refused without being answered, and nothing confirmed: a forged request, a withheld caller, another caller, another called number.
    expect((await fake.inboundCall(phone, INBOUND_NUMBER, { badSignature: true })).status).toBe(403);
    for (const [from, to] of [['anonymous', INBOUND_NUMBER], ['+266696687', INBOUND_NUMBER], [freshPhone(), INBOUND_NUMBER], [phone, '+815099999999']]) {
      const answer = await fake.inboundCall(from, to);
      expect(answer).toEqual({ status: 200, body: expect.stringContaining('<Reject reason="busy"/>') });
    }
    await settle();
    expect((await get(inbound.key, res.body.id)).body.status).toBe('screening');
    expect(messagesTo(s.sms, phone)).toEqual([]);

    clock.advance(60_000);
    expect((await fake.inboundCall(phone, INBOUND_NUMBER)).status).toBe(200);
    const code = await codeSentTo(s.sms, phone);
    const released = (await get(inbound.key, res.body.id)).body;
    expect(released).toMatchObject({ status: 'pending', risk: { decision: 'allow', reasons: [] } });
    expect(released.risk.inboundCall).toBeUndefined();
    expect((await t.request('POST', `/v1/verifications/${res.body.id}/check`, { key: inbound.key, body: { code } })).body.status).toBe('approved');
    const rec = (await record(phone)).body;
    expect(rec).toMatchObject({ status: 'confirmed', method: 'ivr_inbound', provider: 'twilio' });
    expect(rec.history[0].calls).toEqual([expect.objectContaining({ outcome: 'caller_id_matched' })]);
  });

  it('inbound check: a call after the window confirms nothing, and the verification expires', async () => {
    const phone = freshPhone();
    const res = await start(inbound.key, phone);
    clock.advance(121_000);
    await fake.inboundCall(phone, INBOUND_NUMBER);
    await settle();
    expect((await get(inbound.key, res.body.id)).body.status).toBe('expired');
    expect((await record(phone)).body.status).toBe('none');
    expect(messagesTo(s.sms, phone)).toEqual([]);
  });

  it('the admin record: 400 for a malformed number, status none for a number never checked, admin scope only', async () => {
    expectProblem(await record('+81901'), 400, 'invalid_phone_number');
    expectProblem(await t.request('GET', '/v1/admin/voice-contracts/not-a-number', { key: admin.key }), 400, 'invalid_phone_number');
    const never = freshPhone();
    expect((await record(never)).body).toEqual({ phoneNumber: `+81*******${never.slice(-4)}`, status: 'none', method: null, provider: null, callId: null, checkedAt: null, expiresAt: null, history: [] });
    expectProblem(await t.request('GET', `/v1/admin/voice-contracts/${encodeURIComponent(never)}`, { key: requireDeny.key }), 403, 'forbidden');
  });

  it('the voice-contract policy: validated, shown with its defaults, audited', async () => {
    const c = await t.createClient(['verifications:write']);
    const put = (body: unknown) => t.request('PUT', `/v1/admin/clients/${c.clientId}/policy`, { key: admin.key, body });
    expect((await t.request('GET', `/v1/admin/clients/${c.clientId}/policy`, { key: admin.key })).body.voiceContract).toEqual({
      default: 'off', byPurpose: {}, onUnknown: 'deny', method: 'ivr_outbound',
    });
    for (const bad of [{ default: 'always' }, { byPurpose: { transfer: 'maybe' } }, { byPurpose: { 'NOT A PURPOSE': 'require' } }, { onUnknown: 'yes' }, { method: 'sms' }, { extra: 1 }, 'require']) {
      expectProblem(await put({ voiceContract: bad }), 400, 'validation_failed');
    }
    const ok = await put({ voiceContract: { byPurpose: { transfer: 'require' }, onUnknown: 'allow' } });
    expect(ok.body.voiceContract).toEqual({ default: 'off', byPurpose: { transfer: 'require' }, onUnknown: 'allow', method: 'ivr_outbound' });
    const [event] = await s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'client.policy_updated' AND client_id = $1 ORDER BY seq DESC NULLS FIRST, occurred_at DESC LIMIT 1`, [c.clientId]);
    expect(event.data).toMatchObject({ changed: ['voiceContract'], after: { voiceContract: { byPurpose: { transfer: 'require' }, onUnknown: 'allow' } } });
  });

  // Last: it moves the clock by months.
  it('a confirmed number skips the call on later starts, until its record expires', async () => {
    const phone = scripted('press');
    await start(requireDeny.key, phone);
    await finishedCalls(phone, 1);
    await codeSentTo(s.sms, phone);

    clock.advance(89 * DAY);
    const second = await start(requireDeny.key, phone);
    expect(second.status).toBe(201);
    expect(second.body.status).toBe('pending');
    await codeSentTo(s.sms, phone, { nth: 2 });
    expect(callsTo(phone)).toHaveLength(1);

    clock.advance(2 * DAY);
    expect((await record(phone)).body.status).toBe('none');
    const third = await start(requireDeny.key, phone);
    expect(third.status).toBe(202);
    await finishedCalls(phone, 2);
    await codeSentTo(s.sms, phone, { nth: 3 });
    expect((await record(phone)).body.history).toHaveLength(2);
  });

  it('every check row of this file: a check id, the number masked, and sealed only while the check may still call', async () => {
    const rows = await s.db.query<{ id: string; phone_masked: string; phone_sealed: Buffer | null; status: string; method: string }>(
      `SELECT id, phone_masked, phone_sealed, status, method FROM voice_contract_checks`,
    );
    expect(rows.length).toBeGreaterThan(5);
    for (const r of rows) {
      expect(r.id).toMatch(/^vck_[0-9A-Z]{26}$/);
      expect(r.phone_masked).toMatch(/^\+81\*+\d{4}$/);
      // The sealed number is kept only while the check may still call (an inbound check never calls).
      expect(r.phone_sealed !== null).toBe(r.status === 'checking' && r.method === 'ivr_outbound');
    }
  });
});
