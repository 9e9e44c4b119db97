// IVR check calls through Vonage (issue 10 item 7, issue 11 item 1): the real VonageProvider on @vonage/server-sdk
// and the Vonage calls callback, over real HTTP, against a fake Vonage speaking the Voice API's wire format (create
// call with an NCCO, JSON event and input webhooks signed with a JWT), on a real PostgreSQL. Vonage is the first
// voice provider of the route, Twilio (also faked) the second; the client policies require a voice contract.
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { DomainEvents, EventBus } from '../src/common/events';
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import { VoiceCallsService } from '../src/gateway/voice-calls.service';
import type { TestApp } from './support/app';
import { FakeClock } from './support/fake-clock';
import { FakeTwilio, startFakeTwilio } from './support/fake-twilio';
import { FakeVonage, FakeVonageCall, signVonageWebhook, startFakeVonage, VonageCallScenario, VonageCallScript } from './support/fake-vonage';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { codeSentTo, messagesTo, webhooksFor } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { sleep, waitFor } from './support/wait';

const RETRY_MS = 120_000;

describe('IVR check calls through Vonage', () => {
  let vonage: FakeVonage;
  let twilio: FakeTwilio;
  let s: SmsStack;
  let t: TestApp;
  let clock: FakeClock;
  let calls: VoiceCallsService;
  let admin: { key: string };
  let requireDeny: { key: string; clientId: string };
  let requireAllow: { key: string; clientId: string };
  const completed: Array<DomainEvents['call.completed']> = [];
  let refs = 0;

  beforeAll(async () => {
    vonage = await startFakeVonage();
    twilio = await startFakeTwilio();
    clock = new FakeClock(Date.now());
    // One retry (so "no answer twice" decides), no background poller (the test moves the clock and polls), and no
    // call rate (the clock stands still while a test places several calls).
    s = await startSmsStack({
      env: {
        ...twilio.env(),
        ...vonage.env(),
        VOICE_PROVIDER: 'vonage,twilio',
        PROVIDER_RATE_LIMITS: 'vonage.voice=0,twilio.voice=0',
        THROTTLE_LIMIT: '100000',
        RISK_VOICE_CHECK_RETRIES: '1',
        OUTBOX_POLL_INTERVAL_MS: '3600000',
      },
      clock,
    });
    t = s.t;
    vonage.deliverTo = t.url;
    twilio.deliverTo = t.url;
    calls = t.app.get(VoiceCallsService);
    t.app.get(EventBus).subscribe('call.completed', 'spec.completed', (_tx, e) => void completed.push(e));
    admin = await t.createClient(['admin']);
    const client = async (voiceContract: Record<string, unknown>) => {
      const c = await t.createClient(['verifications:write', 'verifications:check']);
      expect((await t.request('PUT', `/v1/admin/clients/${c.clientId}/policy`, { key: admin.key, body: { voiceContract } })).status).toBe(200);
      return c;
    };
    requireDeny = await client({ default: 'require', onUnknown: 'deny' });
    requireAllow = await client({ default: 'require', onUnknown: 'allow' });
  });
  afterAll(async () => {
    await s?.close();
    await vonage?.close();
    await twilio?.close();
  });

  const start = (key: string, phoneNumber: string) =>
    t.request('POST', '/v1/verifications', { key, body: { phoneNumber, purpose: 'login', callbackUrl: `${s.hooks.url}/hooks` } });
  const get = (key: string, id: string) => t.request('GET', `/v1/verifications/${id}`, { key });
  const record = (e164: string) => t.request('GET', `/v1/admin/voice-contracts/${encodeURIComponent(e164)}`, { key: admin.key });
  const callsTo = (to: string) => vonage.checkCalls.filter((c) => c.to === to);
  const webhooksOf = (call: FakeVonageCall) => vonage.callWebhooks.filter((w) => w.uuid === call.uuid);
  const finishedCalls = (to: string, n: number): Promise<FakeVonageCall[]> =>
    waitFor(() => (callsTo(to).filter((c) => c.finished).length >= n ? callsTo(to) : undefined), { timeoutMs: 10_000, what: `${n} finished calls to ${to}` });
  const nextRetry = async () => {
    clock.advance(RETRY_MS);
    await t.app.get(OutboxDispatcher).pollOnce();
  };
  const scripted = (scenario: VonageCallScenario, opts?: VonageCallScript) => {
    const phone = freshPhone();
    vonage.script(phone, scenario, opts);
    return phone;
  };
  const decidedEvents = (checkId: string) =>
    s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'voice_contract.decided' AND data->>'checkId' = $1`, [checkId]);
  const settle = () => sleep(150);
  /** POSTs a JSON body to the calls callback as Vonage would, with the Authorization given. */
  const post = (path: string, body: string, authorization?: string) =>
    t.request('POST', path, { rawBody: body, headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) } });
  const signed = (body: string, claims: Record<string, unknown> = {}) =>
    `Bearer ${signVonageWebhook(vonage.signatureSecret, body, { api_key: vonage.apiKey, application_id: vonage.applicationId, ...claims })}`;

  describe('through the HTTP API, with a voice-contract policy', () => {
    it('press 1: 202 screening, the NCCO asks for the key, then the code SMS arrives and checking it approves', async () => {
      const phone = scripted('press');
      const res = await start(requireDeny.key, phone);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ status: 'screening', risk: { decision: 'screen', reasons: ['voice_contract_required'] }, delivery: null });
      const [call] = await finishedCalls(phone, 1);
      const request = vonage.calls.find((c) => c.answer.status === 201 && JSON.parse(c.answer.body).uuid === call.uuid)!;
      expect(request.headers.authorization).toMatch(/^Bearer /);
      expect(request.json.ncco[0]).toMatchObject({ action: 'talk', language: 'ja-JP', text: expect.stringContaining('1を押してください') });
      expect(request.json.ncco[1]).toMatchObject({ action: 'input', type: ['dtmf'], dtmf: { maxDigits: 1 } });
      expect(request.json.machine_detection).toBe('hangup');
      // Every webhook answered: events 204, the input 200 with an NCCO (a goodbye).
      const hooks = webhooksOf(call);
      expect(hooks.filter((w) => w.kind === 'event').map((w) => [JSON.parse(w.body).status, w.answer.status])).toEqual([
        ['started', 204], ['ringing', 204], ['answered', 204], ['human', 204], ['completed', 204],
      ]);
      const input = hooks.find((w) => w.kind === 'input')!;
      expect(input.answer.status).toBe(200);
      expect(input.answer.contentType).toMatch(/^application\/json/);
      expect(JSON.parse(input.answer.body)).toEqual([{ action: 'talk', text: 'ありがとうございました。失礼いたします。', language: 'ja-JP' }]);

      const code = await codeSentTo(s.sms, phone);
      expect((await get(requireDeny.key, res.body.id)).body).toMatchObject({ status: 'pending', risk: { decision: 'allow', reasons: [] } });
      const check = await t.request('POST', `/v1/verifications/${res.body.id}/check`, { key: requireDeny.key, body: { code } });
      expect(check.body).toMatchObject({ status: 'approved', valid: true });
      const rec = (await record(phone)).body;
      expect(rec).toMatchObject({ status: 'confirmed', method: 'ivr_outbound', provider: 'vonage', callId: call.uuid });
      expect(rec.history[0].calls).toEqual([{ provider: 'vonage', callId: call.uuid, outcome: 'key_pressed', sipResponseCode: null, endedAt: expect.any(String) }]);
      expect(await decidedEvents(rec.history[0].checkId)).toHaveLength(1);
    });

    it.each<[VonageCallScenario, string]>([
      ['invalid-number', 'unallocated'],
      ['out-of-service', 'out_of_service'],
    ])('%s: absent only after the confirming call, then denied with no_voice_contract, exactly one webhook and no SMS', async (scenario, outcome) => {
      const phone = scripted(scenario);
      const res = await start(requireDeny.key, phone);
      expect(res.status).toBe(202);
      await finishedCalls(phone, 1);
      await settle();
      expect((await record(phone)).body).toMatchObject({ status: 'checking' });
      expect((await get(requireDeny.key, res.body.id)).body.status).toBe('screening');

      await nextRetry();
      await finishedCalls(phone, 2);
      await waitFor(async () => (await get(requireDeny.key, res.body.id)).body.status === 'denied', { what: 'the verification denied' });
      await waitFor(() => webhooksFor(s.hooks, res.body.id).length > 0, { what: 'the denial webhook' });
      await settle(); // and no other
      expect((await get(requireDeny.key, res.body.id)).body.risk).toEqual({ decision: 'deny', reasons: ['no_voice_contract'] });
      const hooks = webhooksFor(s.hooks, res.body.id);
      expect(hooks.map((h) => h.json.type)).toEqual(['verification.denied']);
      expect(messagesTo(s.sms, phone)).toEqual([]);
      const rec = (await record(phone)).body;
      expect(rec).toMatchObject({ status: 'absent', provider: 'vonage' });
      expect(rec.history[0].calls.map((c: { outcome: string }) => c.outcome)).toEqual([outcome, outcome]);
    });

    it('an answering machine never confirms: after the retry the check is unknown and onUnknown deny denies', async () => {
      const phone = scripted('machine');
      const res = await start(requireDeny.key, phone);
      await finishedCalls(phone, 1);
      await settle();
      expect((await record(phone)).body.status).toBe('checking');
      await nextRetry();
      await finishedCalls(phone, 2);
      await waitFor(async () => (await get(requireDeny.key, res.body.id)).body.status === 'denied', { what: 'the verification denied' });
      await waitFor(() => webhooksFor(s.hooks, res.body.id).length > 0, { what: 'the denial webhook' });
      await settle(); // and no other
      expect((await get(requireDeny.key, res.body.id)).body.risk.reasons).toEqual(['voice_contract_unknown']);
      const rec = (await record(phone)).body;
      expect(rec.status).toBe('unknown');
      expect(rec.history[0].calls.map((c: { outcome: string }) => c.outcome)).toEqual(['voicemail', 'voicemail']);
      expect(messagesTo(s.sms, phone)).toEqual([]);
    });

    it.each<VonageCallScenario>(['unanswered', 'timeout'])('%s twice: onUnknown allow sends the code after all', async (scenario) => {
      const phone = scripted(scenario);
      const res = await start(requireAllow.key, phone);
      expect(res.status).toBe(202);
      await finishedCalls(phone, 1);
      await nextRetry();
      await finishedCalls(phone, 2);
      const code = await codeSentTo(s.sms, phone);
      expect((await get(requireAllow.key, res.body.id)).body).toMatchObject({ status: 'pending', risk: { decision: 'allow', reasons: ['voice_contract_unknown'] } });
      expect((await t.request('POST', `/v1/verifications/${res.body.id}/check`, { key: requireAllow.key, body: { code } })).body.status).toBe('approved');
      const rec = (await record(phone)).body;
      expect(rec.status).toBe('unknown');
      expect(rec.history[0].calls.map((c: { outcome: string }) => c.outcome)).toEqual(['no_answer', 'no_answer']);
    });

    it('a wrong key and silence are no confirmation: onUnknown deny denies', async () => {
      for (const scenario of ['wrong-key', 'silence'] as const) {
        const phone = scripted(scenario);
        const res = await start(requireDeny.key, phone);
        await finishedCalls(phone, 1);
        await nextRetry();
        await finishedCalls(phone, 2);
        await waitFor(async () => (await get(requireDeny.key, res.body.id)).body.status === 'denied', { what: `the verification denied (${scenario})` });
        const rec = (await record(phone)).body;
        expect(rec.status).toBe('unknown');
        expect(rec.history[0].calls.map((c: { outcome: string }) => c.outcome)).toEqual(scenario === 'silence' ? ['no_key', 'no_key'] : ['key_pressed', 'key_pressed']);
      }
    });

    it('forged and unsigned webhooks are 403 problem+json and change nothing: the check stays open, the verification waits', async () => {
      for (const opts of [{ badSignature: true }, { unsigned: true }]) {
        const phone = scripted('press', opts);
        const res = await start(requireDeny.key, phone);
        const [call] = await finishedCalls(phone, 1);
        const hooks = webhooksOf(call);
        expect(hooks).toHaveLength(6);
        for (const w of hooks) {
          expect(w.answer.status).toBe(403);
          expect(w.answer.contentType).toMatch(/^application\/problem\+json/);
          expect(JSON.parse(w.answer.body)).toMatchObject({ status: 403, code: 'forbidden' });
        }
        await settle();
        expect(await calls.find('vonage', call.uuid)).toMatchObject({ status: 'queued', digits: null, outcome: null, answeredBy: null });
        expect((await record(phone)).body).toMatchObject({ status: 'checking' });
        expect((await get(requireDeny.key, res.body.id)).body.status).toBe('screening');
        expect(messagesTo(s.sms, phone)).toEqual([]);
      }
    });

    it('duplicate and out-of-order webhooks decide the check once and never move the call back', async () => {
      const phone = scripted('press', { duplicate: true, outOfOrder: true });
      const res = await start(requireDeny.key, phone);
      const [call] = await finishedCalls(phone, 1);
      // The input first, then the events last-first, each twice.
      expect(webhooksOf(call).map((w) => JSON.parse(w.body).status ?? 'input')).toEqual([
        'input', 'input', 'completed', 'completed', 'human', 'human', 'answered', 'answered', 'ringing', 'ringing', 'started', 'started',
      ]);
      expect(webhooksOf(call).every((w) => w.answer.status === 200 || w.answer.status === 204)).toBe(true);
      await codeSentTo(s.sms, phone);
      await settle();
      expect(messagesTo(s.sms, phone)).toHaveLength(1);
      expect(await calls.find('vonage', call.uuid)).toMatchObject({ status: 'ended', outcome: 'key_pressed', digits: '1' });
      expect(completed.filter((e) => e.callId === call.uuid)).toHaveLength(1);
      const rec = (await record(phone)).body;
      expect(rec.status).toBe('confirmed');
      expect(await decidedEvents(rec.history[0].checkId)).toHaveLength(1);
      expect((await get(requireDeny.key, res.body.id)).body.status).toBe('pending');
    });

    it('a Vonage route error at create fails over to Twilio, which places the call; its key press confirms', async () => {
      const phone = scripted('create-error', { error: { status: 503 } });
      twilio.script(phone, 'press');
      const res = await start(requireDeny.key, phone);
      expect(res.status).toBe(202);
      const twilioCall = await twilio.finishedCallTo(phone);
      await codeSentTo(s.sms, phone);
      expect(vonage.calls.filter((c) => c.json?.to?.[0]?.number === phone.slice(1)).map((c) => c.answer.status)).toEqual([503]);
      expect(callsTo(phone)).toEqual([]);
      expect((await record(phone)).body).toMatchObject({ status: 'confirmed', provider: 'twilio', callId: twilioCall.sid });
      const [attempt] = await s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'voice_check.call_placed' AND data->>'callId' = $1`, [twilioCall.sid]);
      expect(attempt.data).toMatchObject({ provider: 'twilio' });
    });
  });

  describe('the calls callback', () => {
    /** Places a check call through the service (no verification), and waits until the fake has played it out. */
    async function checkCall(scenario: VonageCallScenario, opts: VonageCallScript = {}) {
      const to = freshPhone();
      vonage.script(to, scenario, opts);
      const reference = `vck_spec_${++refs}`;
      const placed = await calls.placeCheckCall({ to, locale: 'en', prompt: 'Press 1 to confirm this number.', reference });
      const call = await vonage.finishedCallTo(to);
      expect(placed).toEqual({ provider: 'vonage', callId: call.uuid });
      return { to, reference, call, row: await calls.find('vonage', call.uuid), hooks: webhooksOf(call), completed: completed.filter((e) => e.callId === call.uuid) };
    }

    it.each<[VonageCallScenario, VonageCallScript, DomainEvents['call.completed']['outcome']]>([
      ['press', {}, { kind: 'key_pressed', digits: '1' }],
      ['wrong-key', { digits: '7' }, { kind: 'key_pressed', digits: '7' }],
      ['silence', {}, { kind: 'no_key' }],
      ['machine', {}, { kind: 'voicemail' }],
      ['busy', {}, { kind: 'busy' }],
      ['timeout', {}, { kind: 'no_answer' }],
      ['unanswered', {}, { kind: 'no_answer' }],
      ['invalid-number', {}, { kind: 'unallocated' }],
      ['out-of-service', {}, { kind: 'out_of_service' }],
      ['cannot-route', {}, { kind: 'route_error' }],
    ])('%s (%j): the recorded call and one call.completed with the outcome', async (scenario, opts, outcome) => {
      const c = await checkCall(scenario, opts);
      expect(c.hooks.length).toBeGreaterThan(1);
      expect(c.hooks.every((w) => w.answer.status === (w.kind === 'input' ? 200 : 204))).toBe(true);
      expect(c.row).toMatchObject({ provider: 'vonage', callId: c.call.uuid, reference: c.reference, status: 'ended', outcome: outcome.kind, sipResponseCode: null });
      expect(c.row!.digits).toBe(outcome.kind === 'key_pressed' ? outcome.digits : null);
      expect(c.completed).toEqual([{ provider: 'vonage', callId: c.call.uuid, reference: c.reference, outcome, sipResponseCode: null, at: expect.any(Date) }]);
      // The input's answer is the English goodbye for an English call.
      for (const w of c.hooks.filter((h) => h.kind === 'input')) expect(JSON.parse(w.answer.body)).toEqual([{ action: 'talk', text: 'Thank you. Goodbye.', language: 'en-US' }]);
    });

    it('a busy call whose earlier events arrive late, twice, stays busy', async () => {
      const c = await checkCall('busy', { outOfOrder: true, duplicate: true });
      expect(c.hooks.map((w) => JSON.parse(w.body).status)).toEqual(['busy', 'busy', 'ringing', 'ringing', 'started', 'started']);
      expect(c.row).toMatchObject({ status: 'ended', outcome: 'busy' });
      expect(c.completed).toHaveLength(1);
    });

    it('a tampered body, a token for another application, a genuine body sent to another reference, or an unsigned one: 403, nothing changes', async () => {
      const c = await checkCall('silence');
      const path = (ref: string, step = '') => `/v1/callbacks/vonage/calls?ref=${ref}&lang=en${step}`;
      const genuine = c.hooks.find((w) => w.kind === 'input')!;
      const keyed = JSON.stringify({ ...JSON.parse(genuine.body), dtmf: { digits: '1', timed_out: false } });
      const other = randomUUID();
      const ringing = JSON.stringify({ uuid: other, status: 'ringing', from: '81312340000', to: c.to.slice(1), timestamp: new Date().toISOString() });

      // a key press slipped into a signed body (the token's payload_hash is the original body's)
      expectProblem(await post(path(c.reference, '&step=input'), keyed, genuine.authorization!), 403, 'forbidden');
      // no Authorization, a token that is not a JWT, one signed with another secret, one signed RS256-style
      expectProblem(await post(path(c.reference), ringing), 403, 'forbidden');
      expectProblem(await post(path(c.reference), ringing, 'Bearer not-a-jwt'), 403, 'forbidden');
      expectProblem(await post(path(c.reference), ringing, `Bearer ${signVonageWebhook('another-secret', ringing)}`), 403, 'forbidden');
      const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
      const claims = Buffer.from(JSON.stringify({ payload_hash: createHash('sha256').update(ringing).digest('hex') })).toString('base64url');
      const hmacAsRs = createHmac('sha256', vonage.signatureSecret).update(`${header}.${claims}`).digest('base64url');
      expectProblem(await post(path(c.reference), ringing, `Bearer ${header}.${claims}.${hmacAsRs}`), 403, 'forbidden');
      // right secret, but for another application of the account
      expectProblem(await post(path(c.reference), ringing, signed(ringing, { application_id: randomUUID() })), 403, 'forbidden');
      expect(await calls.find('vonage', other)).toBeNull();
      // a genuine, signed webhook of this call replayed to another check's reference
      const started = c.hooks.find((w) => w.kind === 'event' && JSON.parse(w.body).status === 'started')!;
      expectProblem(await post(path('vck_other'), started.body, started.authorization!), 403, 'forbidden');
      expect(await calls.find('vonage', c.call.uuid)).toEqual(c.row);
      expect(completed.filter((e) => e.callId === c.call.uuid)).toHaveLength(1);

      // the same new event, signed with the right secret for our application, is accepted: the 403s were the signature's doing
      expect((await post(path(c.reference), ringing, signed(ringing))).status).toBe(204);
      expect(await calls.find('vonage', other)).toMatchObject({ status: 'ringing', reference: c.reference });
      // and a late, validly signed key press after the end changes nothing
      expect((await post(path(c.reference, '&step=input'), keyed, signed(keyed))).status).toBe(200);
      expect(await calls.find('vonage', c.call.uuid)).toEqual(c.row);
      expect(c.row).toMatchObject({ outcome: 'no_key', digits: null });
    });

    it('a signed webhook without a call id is 400 problem+json; an error report about no call is 204', async () => {
      const bad = JSON.stringify({ status: 'ringing', uuid: 'CA123' });
      expectProblem(await post('/v1/callbacks/vonage/calls?ref=vck_x&lang=ja', bad, signed(bad)), 400, 'validation_failed');
      const error = JSON.stringify({ reason: 'Invalid destination 819077776666 in NCCO.', conversation_uuid: 'CON-' + randomUUID(), timestamp: new Date().toISOString() });
      expect((await post('/v1/callbacks/vonage/calls?ref=vck_x&lang=ja', error, signed(error))).status).toBe(204);
      const logged = t.logs.filter((l) => l.includes('Vonage reported an error'));
      expect(logged.join('\n')).toContain('Invalid destination *** in NCCO.');
      expect(t.logs.join('\n')).not.toContain('819077776666');
    });

    it('no secret reaches the logs: neither the signature secret, the private key, nor a webhook token', () => {
      const logs = t.logs.join('\n');
      expect(logs).not.toContain(vonage.signatureSecret);
      expect(logs).not.toContain(vonage.privateKey.split('\n')[1]);
      for (const w of vonage.callWebhooks.slice(0, 20)) if (w.authorization) expect(logs).not.toContain(w.authorization.slice(7));
    });
  });
});
