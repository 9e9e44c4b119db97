// The real TwilioProvider and the twilio SDK against the fake Twilio (test/support/fake-twilio.ts): wire format and
// the mapping of each fault onto accepted / retryable / permanent / unknown.
import { Logger } from '@nestjs/common';
import { FakeTwilio, startFakeTwilio } from '../../../../test/support/fake-twilio';
import { freePort, startDroppingServer } from '../../../../test/support/net';
import { CallNotPlaced, ProviderError } from '../../ports';
import { TwilioProvider } from './twilio.provider';

describe('TwilioProvider (twilio SDK) against the fake Twilio', () => {
  let fake: FakeTwilio;
  let provider: TwilioProvider;
  const sms = (to = '+819012345678') => ({ to, body: '【OTP Verify】認証コード 123456', reference: 'msg_01JDTESTTESTTESTTESTTESTTE' });

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    fake = await startFakeTwilio();
    fake.deliverTo = 'http://127.0.0.1:9'; // receipts are not the subject here
    provider = new TwilioProvider({ accountSid: fake.accountSid, authToken: fake.authToken, fromNumber: fake.fromNumber, apiBaseUrl: fake.url }, fake.publicBaseUrl, 1500);
  });
  afterEach(() => fake.sms.reset());
  afterAll(async () => {
    jest.restoreAllMocks();
    await fake?.close();
  });

  it('sends Messages.json form-encoded with Basic auth, the sender, the text and a status callback naming the outbox id', async () => {
    const accepted = await provider.send(sms());
    const req = fake.messages.at(-1)!;
    expect(req.headers.authorization).toBe('Basic ' + Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64'));
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.form).toEqual({ To: '+819012345678', From: fake.fromNumber, Body: sms().body, StatusCallback: `${fake.publicBaseUrl}/v1/callbacks/twilio/status?ref=msg_01JDTESTTESTTESTTESTTESTTE` });
    expect(accepted).toEqual({ provider: 'twilio', providerMessageId: req.sid });
  });

  it.each([
    ['error-500', { retryable: true, unknown: false, statusCode: 500, message: 'HTTP 500 (Twilio error 20500)' }],
    ['throttle-429', { retryable: true, unknown: false, statusCode: 429, retryAfterMs: 1000 }],
    ['invalid-number', { retryable: false, unknown: false, statusCode: 400, message: 'HTTP 400 (Twilio error 21211: invalid number)' }],
    ['hang', { retryable: true, unknown: true, message: 'timed out after 1500 ms' }],
  ] as const)('%s → %j', async (fault, expected) => {
    fake.sms.script('+819012345678', fault);
    const err = await provider.send(sms()).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ provider: 'twilio', ...expected });
    expect(err.message).not.toContain('9012345678'); // Twilio's own message quotes the number: not kept
  });

  it('a malformed 2xx body is still accepted (never sent twice), without a provider id', async () => {
    fake.sms.script('+819012345678', 'malformed');
    await expect(provider.send(sms())).resolves.toEqual({ provider: 'twilio', providerMessageId: null });
  });

  it('a slow answer within the timeout is accepted', async () => {
    fake.sms.script('+819012345678', 'slow', { delayMs: 150 });
    await expect(provider.send(sms())).resolves.toMatchObject({ provider: 'twilio', providerMessageId: expect.stringMatching(/^SM/) });
  });

  it('connection refused is retryable and surely not sent (not unknown)', async () => {
    const closed = new TwilioProvider({ accountSid: fake.accountSid, authToken: fake.authToken, fromNumber: fake.fromNumber, apiBaseUrl: `http://127.0.0.1:${await freePort()}` }, fake.publicBaseUrl, 1500);
    await expect(closed.send(sms())).rejects.toMatchObject({ message: 'connection failed', retryable: true, unknown: false });
  });

  it('a check call whose connection is lost after the request was sent is not placed as far as we know, but may have been: unknown', async () => {
    const dropping = await startDroppingServer();
    try {
      const lost = new TwilioProvider({ accountSid: fake.accountSid, authToken: fake.authToken, fromNumber: fake.fromNumber, apiBaseUrl: dropping.url }, fake.publicBaseUrl, 1500);
      const err = await lost.placeCheckCall({ to: '+819012345678', locale: 'ja', prompt: '1を押してください。', reference: 'vck_x' }).catch((e) => e);
      expect(dropping.requests()).toBeGreaterThan(0);
      expect(err).toBeInstanceOf(CallNotPlaced);
      expect(err).toMatchObject({ provider: 'twilio', outcome: 'route_error', retryable: true, unknown: true });
    } finally {
      await dropping.close();
    }
  });

  it('a voice code call reads the text twice, slowly, in ja-JP', async () => {
    const accepted = await provider.call({ to: '+819012345678', speech: 'OTP Verifyです。認証コードは、1、2、3、4、5、6。', locale: 'ja', reference: 'msg_x' });
    const req = fake.requests.at(-1)!;
    const twiml = new Map(req.form).get('Twiml') as string;
    expect(twiml).toContain('<Say voice="Polly.Mizuki" language="ja-JP"><prosody rate="slow">OTP Verifyです。認証コードは、1、2、3、4、5、6。</prosody></Say>');
    expect(req.twiml?.says).toEqual(['OTP Verifyです。認証コードは、1、2、3、4、5、6。', 'OTP Verifyです。認証コードは、1、2、3、4、5、6。']);
    expect(accepted).toMatchObject({ provider: 'twilio', providerMessageId: expect.stringMatching(/^CA[0-9a-f]{32}$/) });
  });
});
