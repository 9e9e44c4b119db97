// IVR check calls through Twilio (issue 10 items 7 and 8, issue 11): the real TwilioVoiceProvider and the
// callback endpoint, over real HTTP, against a fake Twilio speaking its wire format, on a real PostgreSQL.
import { randomBytes } from 'node:crypto';
import { DomainEvents, EventBus } from '../src/common/events';
import { CallNotPlaced } from '../src/gateway/ports';
import { VoiceCallsService } from '../src/gateway/voice-calls.service';
import { FakeTwilio, ScriptOptions, signTwilio, startFakeTwilio, TwilioScenario } from './support/fake-twilio';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { Stack, startStack } from './support/stack';

describe('IVR check calls through Twilio', () => {
  let fake: FakeTwilio;
  let s: Stack;
  let calls: VoiceCallsService;
  const progressed: Array<DomainEvents['call.progressed']> = [];
  const completed: Array<DomainEvents['call.completed']> = [];
  let refs = 0;

  beforeAll(async () => {
    fake = await startFakeTwilio();
    s = await startStack({ env: fake.env() });
    fake.deliverTo = s.t.url;
    calls = s.t.app.get(VoiceCallsService);
    const bus = s.t.app.get(EventBus);
    bus.subscribe('call.progressed', 'spec.progressed', (_tx, e) => void progressed.push(e));
    bus.subscribe('call.completed', 'spec.completed', (_tx, e) => void completed.push(e));
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  /** Scripts a fresh number, places the check call through the service, and waits until the fake has played it out. */
  async function checkCall(scenario: TwilioScenario, opts: ScriptOptions = {}) {
    const to = freshPhone();
    fake.script(to, scenario, opts);
    const reference = `vcc_spec_${++refs}`;
    const placed = await calls.placeCheckCall({ to, locale: 'ja', prompt: '株式会社テスト銀行です。お電話番号の確認のため、1を押してください。', reference });
    const call = await fake.finishedCallTo(to);
    expect(placed).toEqual({ provider: 'twilio', callId: call.sid });
    return {
      to,
      reference,
      callId: call.sid,
      row: await calls.find('twilio', call.sid),
      callbacks: fake.callbacks.filter((c) => c.callSid === call.sid),
      progressed: progressed.filter((e) => e.callId === call.sid),
      completed: completed.filter((e) => e.callId === call.sid),
    };
  }

  it('creates the call in Twilio\'s wire format: Basic auth, form fields, TwiML with a one-key <Gather>, status callbacks', async () => {
    const { to, reference, callbacks } = await checkCall('press');
    const req = fake.requests.find((r) => r.form.some(([k, v]) => k === 'To' && v === to))!;
    expect(req.headers.authorization).toBe('Basic ' + Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64'));
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new Map(req.form);
    expect(form.get('From')).toBe(fake.fromNumber);
    expect(form.get('StatusCallback')).toBe(`${fake.publicBaseUrl}/v1/callbacks/twilio/calls?ref=${reference}&lang=ja`);
    expect(form.get('StatusCallbackMethod')).toBe('POST');
    expect(req.form.filter(([k]) => k === 'StatusCallbackEvent').map(([, v]) => v)).toEqual(['initiated', 'ringing', 'answered', 'completed']);
    expect(form.get('MachineDetection')).toBe('Enable');
    expect(Number(form.get('Timeout'))).toBeGreaterThan(0);
    expect(req.twiml).toEqual({
      says: expect.arrayContaining(['株式会社テスト銀行です。お電話番号の確認のため、1を押してください。']),
      gather: { numDigits: 1, action: `${fake.publicBaseUrl}/v1/callbacks/twilio/calls?ref=${reference}&lang=ja&step=gather`, timeout: expect.any(Number) },
    });
    expect(form.get('Twiml')).toContain('<Say language="ja-JP">');
    expect(req.answer.status).toBe(201);
    // Status callbacks are answered 204; the <Gather> action with TwiML that says goodbye and hangs up.
    expect(callbacks.filter((c) => c.kind === 'status').map((c) => c.answer.status)).toEqual([204, 204, 204, 204]);
    const action = callbacks.find((c) => c.kind === 'gather')!;
    expect(action.answer.status).toBe(200);
    expect(action.answer.contentType).toMatch(/^text\/xml/);
    expect(action.answer.body).toMatch(/^<\?xml[^>]*\?><Response><Say language="ja-JP">[^<]+<\/Say><Hangup\/><\/Response>$/);
  });

  it.each<[TwilioScenario, ScriptOptions, DomainEvents['call.completed']['outcome'], number | null]>([
    ['press', {}, { kind: 'key_pressed', digits: '1' }, 200],
    ['wrong-key', { digits: '7' }, { kind: 'key_pressed', digits: '7' }, 200],
    ['silence', {}, { kind: 'no_key' }, 200],
    ['voicemail', {}, { kind: 'voicemail' }, 200],
    ['busy', {}, { kind: 'busy' }, 486],
    ['no-answer', {}, { kind: 'no_answer' }, 487],
    ['unallocated', {}, { kind: 'unallocated' }, 404],
    ['out-of-service', {}, { kind: 'out_of_service' }, 410],
    ['unavailable', {}, { kind: 'unavailable' }, 480],
    ['rejected', {}, { kind: 'rejected' }, 603],
    ['route-error', {}, { kind: 'route_error' }, 503],
  ])('%s (script options %j): the recorded call and one call.completed event with the expected outcome', async (scenario, opts, outcome, sip) => {
    const c = await checkCall(scenario, opts);
    expect(c.callbacks.length).toBeGreaterThan(1);
    expect(c.callbacks.every((cb) => cb.answer.status === 200 || cb.answer.status === 204)).toBe(true);
    expect(c.row).toMatchObject({ provider: 'twilio', callId: c.callId, reference: c.reference, status: 'ended', outcome: outcome.kind, sipResponseCode: sip });
    expect(c.row!.digits).toBe(outcome.kind === 'key_pressed' ? outcome.digits : null);
    expect(c.completed).toEqual([{ provider: 'twilio', callId: c.callId, reference: c.reference, outcome, sipResponseCode: sip, at: expect.any(Date) }]);
  });

  it('a key press and each step of the call are published once, in order, before the end', async () => {
    const c = await checkCall('press');
    expect(c.progressed.map((e) => [e.status, e.digits])).toEqual([
      ['ringing', null],
      ['answered', null],
      ['answered', '1'],
    ]);
    expect(c.progressed.every((e) => e.reference === c.reference)).toBe(true);
  });

  describe('the create-call request refused', () => {
    it.each([
      [21217, 400, 'unallocated', false],
      [13224, 400, 'unallocated', false],
      [20500, 503, 'route_error', true],
      [20429, 429, 'route_error', true],
      [21215, 400, 'route_error', false],
    ])('Twilio error %i (HTTP %i) → CallNotPlaced %s, retryable %s; nothing recorded', async (code, status, outcome, retryable) => {
      const to = freshPhone();
      fake.script(to, 'create-error', { error: { status, code } });
      const before = completed.length;
      const err = await calls.placeCheckCall({ to, locale: 'en', prompt: 'Press 1.', reference: `vcc_spec_${++refs}` }).catch((e) => e);
      expect(err).toBeInstanceOf(CallNotPlaced);
      expect(err).toMatchObject({ provider: 'twilio', outcome, retryable, statusCode: status, providerCode: code });
      expect(fake.calls.some((c) => c.to === to)).toBe(false);
      expect(completed.length).toBe(before);
      expect(await s.db.query(`SELECT 1 FROM voice_calls WHERE reference = $1`, [`vcc_spec_${refs}`])).toEqual([]);
    });
  });

  describe('callbacks Twilio did not sign', () => {
    it('callbacks signed with another token are 403 problem+json: the call stays as placed, nothing is published', async () => {
      const c = await checkCall('press', { badSignature: true });
      expect(c.callbacks.length).toBe(5);
      for (const cb of c.callbacks) {
        expect(cb.answer.status).toBe(403);
        expect(cb.answer.contentType).toMatch(/^application\/problem\+json/);
        expect(JSON.parse(cb.answer.body)).toMatchObject({ status: 403, code: 'forbidden' });
      }
      expect(c.row).toMatchObject({ reference: c.reference, status: 'queued', answeredBy: null, digits: null, outcome: null, sequence: null });
      expect(c.row!.updatedAt).toEqual((await s.db.query<{ created_at: Date }>(`SELECT created_at FROM voice_calls WHERE call_id = $1`, [c.callId]))[0].created_at);
      expect(c.progressed).toEqual([]);
      expect(c.completed).toEqual([]);
    });

    it('a missing signature, a signature over other parameters, another URL or a replay to another call are 403 and change nothing', async () => {
      const c = await checkCall('silence');
      const signed = c.callbacks.find((cb) => cb.params.CallStatus === 'completed')!;
      const path = signed.url.slice(fake.publicBaseUrl.length);
      const post = (url: string, params: Record<string, string>, signature?: string) =>
        s.t.request('POST', url, { rawBody: new URLSearchParams(params).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature ? { 'x-twilio-signature': signature } : {}) } });

      expectProblem(await post(path, signed.params), 403, 'forbidden');
      // the completed callback's signature, with a key press slipped in
      expectProblem(await post(path, { ...signed.params, Digits: '1' }, signed.signature), 403, 'forbidden');
      // the same signed parameters, sent to another reference
      expectProblem(await post(path.replace(c.reference, 'vcc_other'), signed.params, signed.signature), 403, 'forbidden');
      // a signature made for another call's sid
      const other = 'CA' + randomBytes(16).toString('hex');
      expectProblem(await post(path, { ...signed.params, CallSid: other }, signed.signature), 403, 'forbidden');
      expect(await calls.find('twilio', other)).toBeNull();
      expect(await calls.find('twilio', c.callId)).toEqual(c.row);
      expect(completed.filter((e) => e.callId === c.callId)).toHaveLength(1);

      // the same tampering, signed with the right token, is accepted: the 403s above were the signature's doing
      const forgedButSigned = { ...signed.params, CallSid: other, CallStatus: 'ringing' };
      expect((await post(path, forgedButSigned, signTwilio(fake.authToken, signed.url, forgedButSigned))).status).toBe(204);
      expect(await calls.find('twilio', other)).toMatchObject({ status: 'ringing', reference: c.reference });

      // correctly signed, but for another Twilio account (a shared auth token, a misrouted webhook): 403 all the same
      const third = 'CA' + randomBytes(16).toString('hex');
      const otherAccount = { ...signed.params, CallSid: third, CallStatus: 'ringing', AccountSid: 'AC' + randomBytes(16).toString('hex') };
      expectProblem(await post(path, otherAccount, signTwilio(fake.authToken, signed.url, otherAccount)), 403, 'forbidden');
      expect(await calls.find('twilio', third)).toBeNull();
    });
  });

  describe('duplicates and out-of-order callbacks never move a call backwards', () => {
    it('every callback twice: one outcome, one event per step', async () => {
      const c = await checkCall('press', { duplicate: true });
      expect(c.callbacks.length).toBe(10);
      expect(c.callbacks.every((cb) => cb.answer.status === 200 || cb.answer.status === 204)).toBe(true);
      expect(c.row).toMatchObject({ status: 'ended', outcome: 'key_pressed', digits: '1' });
      expect(c.progressed.map((e) => [e.status, e.digits])).toEqual([
        ['ringing', null],
        ['answered', null],
        ['answered', '1'],
      ]);
      expect(c.completed).toHaveLength(1);
    });

    it('status callbacks last-first: the end counts, the earlier statuses arriving after it change nothing', async () => {
      const c = await checkCall('press', { outOfOrder: true });
      expect(c.callbacks.map((cb) => cb.params.CallStatus)).toEqual(['in-progress', 'completed', 'in-progress', 'ringing', 'initiated']);
      expect(c.row).toMatchObject({ status: 'ended', outcome: 'key_pressed', digits: '1', sequence: 3 });
      expect(c.completed).toEqual([expect.objectContaining({ outcome: { kind: 'key_pressed', digits: '1' } })]);
      expect(c.progressed.map((e) => [e.status, e.digits])).toEqual([['answered', '1']]);
    });

    it('a busy call whose ringing arrives late stays busy', async () => {
      const c = await checkCall('busy', { outOfOrder: true, duplicate: true });
      expect(c.row).toMatchObject({ status: 'ended', outcome: 'busy' });
      expect(c.completed).toHaveLength(1);
      expect(c.progressed).toEqual([]);
    });

    it('a late, validly signed callback after the end leaves the record as it was', async () => {
      const c = await checkCall('voicemail');
      const signed = c.callbacks.find((cb) => cb.params.CallStatus === 'in-progress')!;
      const late = { ...signed.params, AnsweredBy: 'human', SequenceNumber: '9' };
      const res = await s.t.request('POST', signed.url.slice(fake.publicBaseUrl.length), {
        rawBody: new URLSearchParams(late).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signTwilio(fake.authToken, signed.url, late) },
      });
      expect(res.status).toBe(204);
      expect(await calls.find('twilio', c.callId)).toEqual(c.row);
      expect(c.row).toMatchObject({ outcome: 'voicemail', answeredBy: 'machine' });
    });
  });

  describe('callbacks before the create-call answer', () => {
    it('the first callback before the answer: the call is recorded with its reference and ends normally', async () => {
      const c = await checkCall('press', { callbacksBeforeAnswer: 1 });
      expect(c.row).toMatchObject({ reference: c.reference, status: 'ended', outcome: 'key_pressed' });
      expect(c.completed).toHaveLength(1);
    });

    it('the whole call before the answer: recording the placed call afterwards moves nothing back', async () => {
      const c = await checkCall('unallocated', { callbacksBeforeAnswer: Infinity });
      expect(c.row).toMatchObject({ reference: c.reference, status: 'ended', outcome: 'unallocated', sipResponseCode: 404 });
      expect(c.completed).toEqual([expect.objectContaining({ reference: c.reference, outcome: { kind: 'unallocated' } })]);
    });
  });

  it("the fake's signer (test/support) and the service's agree with Twilio's documented vector", () => {
    const params = { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212' };
    expect(signTwilio('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  });

  it('no secret reaches the logs: neither the auth token nor a signature', () => {
    const logs = s.t.logs.join('\n');
    expect(logs).not.toContain(fake.authToken);
    for (const cb of fake.callbacks.slice(0, 20)) expect(logs).not.toContain(cb.signature);
  });
});
