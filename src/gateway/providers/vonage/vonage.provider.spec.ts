// The real VonageProvider and @vonage/server-sdk against the fake Vonage (test/support/fake-vonage.ts).
import { Logger } from '@nestjs/common';
import { FakeVonage, startFakeVonage } from '../../../../test/support/fake-vonage';
import { freePort, startDroppingServer } from '../../../../test/support/net';
import { CallNotPlaced, ProviderError } from '../../ports';
import { VonageProvider } from './vonage.provider';

describe('VonageProvider (@vonage/server-sdk) against the fake Vonage', () => {
  let fake: FakeVonage;
  const sms = { to: '+819012345678', body: 'OTP Verify: your login code is 123456.', reference: 'msg_01JDTESTTESTTESTTESTTESTTE' };
  const config = (over: Record<string, unknown> = {}) => ({
    apiKey: fake.apiKey,
    apiSecret: fake.apiSecret,
    applicationId: undefined as string | undefined,
    privateKey: undefined as string | undefined,
    signatureSecret: fake.signatureSecret,
    fromNumber: fake.fromNumber,
    apiBaseUrl: fake.url,
    ...over,
  });

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    fake = await startFakeVonage();
    fake.deliverTo = 'http://127.0.0.1:9';
  });
  afterEach(() => fake.sms.reset());
  afterAll(async () => {
    jest.restoreAllMocks();
    await fake?.close();
  });

  it('sends an SMS through the Messages API: Basic auth, numbers without +, the outbox id as client_ref, our status webhook URL', async () => {
    const accepted = await new VonageProvider(config(), fake.publicBaseUrl, 1500).send(sms);
    const req = fake.messages.at(-1)!;
    expect(req.auth).toBe('basic');
    expect(req.json).toEqual({
      channel: 'sms', message_type: 'text', to: '819012345678', from: fake.fromNumber.slice(1), text: sms.body,
      client_ref: sms.reference, webhook_url: `${fake.publicBaseUrl}/v1/callbacks/vonage/status`,
    });
    expect(accepted).toEqual({ provider: 'vonage', providerMessageId: req.uuid });
  });

  it('with an application and its private key, the SDK signs a JWT (RS256) instead', async () => {
    // (a generous timeout: signing RS256 on a busy machine counts against it)
    await new VonageProvider(config({ applicationId: fake.applicationId, privateKey: fake.privateKey }), fake.publicBaseUrl, 5000).send(sms);
    expect(fake.messages.at(-1)!.auth).toBe('jwt');
  });

  it.each([
    ['error-500', { retryable: true, unknown: false, statusCode: 500, message: 'HTTP 500 (Vonage error 1050)' }],
    ['throttle-429', { retryable: true, unknown: false, statusCode: 429, retryAfterMs: 1000 }],
    ['invalid-number', { retryable: false, unknown: false, statusCode: 422, message: 'HTTP 422 (Vonage error 1150)' }],
    ['hang', { retryable: true, unknown: true, message: 'timed out after 1500 ms' }],
  ] as const)('%s → %j', async (fault, expected) => {
    fake.sms.script(sms.to, fault);
    const err = await new VonageProvider(config(), fake.publicBaseUrl, 1500).send(sms).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ provider: 'vonage', ...expected });
    expect(err.message).not.toContain('9012345678');
  });

  it('a malformed 2xx body is still accepted, without a provider id; a refused connection is retryable, not unknown', async () => {
    fake.sms.script(sms.to, 'malformed');
    await expect(new VonageProvider(config(), fake.publicBaseUrl, 1500).send(sms)).resolves.toEqual({ provider: 'vonage', providerMessageId: null });
    const closed = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    await expect(new VonageProvider(config({ apiBaseUrl: closed }), fake.publicBaseUrl, 1500).send(sms)).rejects.toMatchObject({ message: 'connection failed', unknown: false });
  });

  it('a voice code call: JWT, and an NCCO whose talk reads the text twice, slowly, in ja-JP', async () => {
    const provider = new VonageProvider(config({ applicationId: fake.applicationId, privateKey: fake.privateKey }), fake.publicBaseUrl, 5000);
    const accepted = await provider.call({ to: '+819012345678', speech: '認証コードは、1、2、3。', locale: 'ja', reference: 'msg_x' });
    const call = fake.calls.at(-1)!;
    expect(call.answer.status).toBe(201);
    expect(call.json.to).toEqual([{ type: 'phone', number: '819012345678' }]);
    expect(call.json.ncco).toEqual([{ action: 'talk', text: '<speak><prosody rate="slow">認証コードは、1、2、3。</prosody><break time="2s"/></speak>', language: 'ja-JP', loop: 2, premium: true }]);
    expect(accepted.providerMessageId).toBe(JSON.parse(call.answer.body).uuid);
  });

  it('an IVR check call: JWT, our event_url, machine detection, timers, and an NCCO talk + one-key input posting to our input URL', async () => {
    const provider = new VonageProvider(config({ applicationId: fake.applicationId, privateKey: fake.privateKey }), fake.publicBaseUrl, 5000);
    const to = '+819087654321';
    fake.script(to, 'press');
    const placed = await provider.placeCheckCall({ to, locale: 'en', prompt: 'Press 1 to confirm.', reference: 'vck_01JDTESTTESTTESTTESTTESTTE' });
    const req = fake.calls.at(-1)!;
    expect(req.answer.status).toBe(201);
    expect(placed).toEqual({ provider: 'vonage', callId: JSON.parse(req.answer.body).uuid });
    const event = `${fake.publicBaseUrl}/v1/callbacks/vonage/calls?ref=vck_01JDTESTTESTTESTTESTTESTTE&lang=en`;
    expect(req.json).toEqual({
      to: [{ type: 'phone', number: '819087654321' }],
      from: { type: 'phone', number: fake.fromNumber.slice(1) },
      event_url: [event],
      event_method: 'POST',
      ringing_timer: 30,
      length_timer: 90,
      machine_detection: 'hangup',
      ncco: [
        { action: 'talk', text: 'Press 1 to confirm.', language: 'en-US', loop: 2, bargeIn: true },
        { action: 'input', type: ['dtmf'], dtmf: { maxDigits: 1, timeOut: 8, submitOnHash: false }, eventUrl: [`${event}&step=input`], eventMethod: 'POST' },
      ],
    });
    await (await fake.finishedCallTo(to)).done;
  });

  it('a create-call request whose connection is lost after it was sent is CallNotPlaced route_error, and unknown (it may have been placed)', async () => {
    const dropping = await startDroppingServer();
    try {
      const provider = new VonageProvider(config({ applicationId: fake.applicationId, privateKey: fake.privateKey, apiBaseUrl: dropping.url }), fake.publicBaseUrl, 5000);
      const err = await provider.placeCheckCall({ to: '+819011112222', locale: 'ja', prompt: '1を押してください。', reference: 'vck_x' }).catch((e) => e);
      expect(dropping.requests()).toBeGreaterThan(0);
      expect(err).toBeInstanceOf(CallNotPlaced);
      expect(err).toMatchObject({ provider: 'vonage', outcome: 'route_error', retryable: true, unknown: true });
    } finally {
      await dropping.close();
    }
  });

  it.each([
    [503, true],
    [500, true],
    [429, true],
    [401, false],
    [400, false],
  ])('a create-call request refused with HTTP %i is CallNotPlaced route_error, retryable %s (retryable: the next voice provider is tried)', async (status, retryable) => {
    const provider = new VonageProvider(config({ applicationId: fake.applicationId, privateKey: fake.privateKey }), fake.publicBaseUrl, 5000);
    const to = '+819011112222';
    fake.script(to, 'create-error', { error: { status } });
    const err = await provider.placeCheckCall({ to, locale: 'ja', prompt: '1を押してください。', reference: 'vck_x' }).catch((e) => e);
    expect(err).toBeInstanceOf(CallNotPlaced);
    expect(err).toMatchObject({ provider: 'vonage', outcome: 'route_error', retryable, statusCode: status });
    expect(err.message).not.toContain('9011112222');
  });
});
