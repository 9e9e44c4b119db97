// The real AwsSmsProvider and @aws-sdk/client-pinpoint-sms-voice-v2 against the fake AWS (test/support/fake-aws-sms.ts),
// which checks the SigV4 signature itself.
import { Logger } from '@nestjs/common';
import { FakeAwsSms, startFakeAwsSms } from '../../../../test/support/fake-aws-sms';
import { freePort } from '../../../../test/support/net';
import type { AwsSmsConfig } from '../../../config/app-config';
import { ProviderError } from '../../ports';
import { awsRefusal } from './aws.mapping';
import { AwsSmsProvider } from './aws.provider';

describe('AwsSmsProvider (AWS SDK, End User Messaging SMS) against the fake AWS', () => {
  let fake: FakeAwsSms;
  const sms = { to: '+819012345678', body: 'OTP Verify: your login code is 123456.', reference: 'msg_01JDTESTTESTTESTTESTTESTTE' };
  const config = (over: Partial<AwsSmsConfig> = {}): AwsSmsConfig => ({
    region: fake.region,
    accessKeyId: fake.accessKeyId,
    secretAccessKey: fake.secretAccessKey,
    originationIdentity: fake.originationIdentity,
    configurationSet: undefined,
    endpoint: fake.url,
    ...over,
  });

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    fake = await startFakeAwsSms();
  });
  afterEach(() => fake.sms.reset());
  afterAll(async () => {
    jest.restoreAllMocks();
    await fake?.close();
  });

  it('SendTextMessage over JSON 1.0, SigV4-signed with the access key: transactional, our sender, the outbox id in Context; the MessageId back', async () => {
    const accepted = await new AwsSmsProvider(config({ configurationSet: 'otp-events' }), 3000).send(sms);
    const req = fake.messages.at(-1)!;
    expect(req.headers['x-amz-target']).toBe('PinpointSMSVoiceV2.SendTextMessage');
    expect(req.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(req.headers.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${fake.accessKeyId}/\\d{8}/ap-northeast-1/sms-voice/aws4_request, SignedHeaders=`));
    expect(req.json).toEqual({
      DestinationPhoneNumber: '+819012345678',
      OriginationIdentity: 'OTPVERIFY',
      MessageBody: sms.body,
      MessageType: 'TRANSACTIONAL',
      ConfigurationSetName: 'otp-events',
      Context: { reference: sms.reference },
    });
    expect(accepted).toEqual({ provider: 'aws', providerMessageId: req.messageId });
    expect(fake.refused).toEqual([]);
  });

  it('a wrong secret is refused by the fake (its signature check is real): permanent, named by the exception only', async () => {
    const err = await new AwsSmsProvider(config({ secretAccessKey: 'x'.repeat(40) }), 3000).send(sms).catch((e) => e);
    expect(fake.refused.at(-1)!.type).toBe('InvalidSignatureException');
    expect(err).toMatchObject({ provider: 'aws', retryable: false, statusCode: 400, message: 'HTTP 400 (AWS InvalidSignatureException)' });
  });

  it.each([
    ['error-500', { retryable: true, unknown: false, statusCode: 500, message: 'HTTP 500 (AWS InternalServerException)' }],
    ['throttle-429', { retryable: true, unknown: false, statusCode: 400, message: 'HTTP 400 (AWS ThrottlingException)' }],
    ['invalid-number', { retryable: false, unknown: false, statusCode: 400, message: 'HTTP 400 (AWS ValidationException: INVALID_PARAMETER)' }],
    ['hang', { retryable: true, unknown: true, message: 'timed out after 800 ms' }],
  ] as const)('%s → %j, never quoting the number', async (fault, expected) => {
    fake.sms.script(sms.to, fault);
    const started = Date.now();
    const err = await new AwsSmsProvider(config(), 800).send(sms).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ provider: 'aws', ...expected });
    expect(err.message).not.toContain('9012345678');
    expect(Date.now() - started).toBeLessThan(5000);
    // one request: the SDK's own retries are off (the router fails over instead)
    expect(fake.messages.filter((m) => m.fault === fault)).toHaveLength(1);
  });

  it('a malformed 200 body is still accepted, with no provider id; a refused connection is retryable and not unknown', async () => {
    fake.sms.script(sms.to, 'malformed');
    await expect(new AwsSmsProvider(config(), 3000).send(sms)).resolves.toEqual({ provider: 'aws', providerMessageId: null });
    const closed = `http://127.0.0.1:${await freePort()}`;
    await expect(new AwsSmsProvider(config({ endpoint: closed }), 3000).send(sms)).rejects.toMatchObject({ message: 'connection failed', retryable: true, unknown: false });
  });

  it('voice is refused: SMS only', async () => {
    await expect(new AwsSmsProvider(config(), 3000).call({ to: sms.to, speech: 'x', locale: 'ja', reference: 'r' })).rejects.toMatchObject({ retryable: false });
  });
});

describe('awsRefusal (AWS errors onto retryable / permanent)', () => {
  const sdkError = (name: string, status: number, extra: Record<string, unknown> = {}) => Object.assign(new Error('quoted +819012345678'), { name, $metadata: { httpStatusCode: status }, ...extra });
  it.each([
    ['ThrottlingException', 400, true],
    ['InternalServerException', 500, true],
    ['ServiceQuotaExceededException', 400, true],
    ['SomethingNew', 503, true],
    ['ValidationException', 400, false],
    ['ConflictException', 400, false],
    ['AccessDeniedException', 400, false],
    ['ResourceNotFoundException', 400, false],
    ['UnrecognizedClientException', 400, false],
  ])('%s (HTTP %i): retryable %s', (name, status, retryable) => {
    const err = awsRefusal(sdkError(name, status), 1000);
    expect(err).toMatchObject({ provider: 'aws', retryable, statusCode: status, unknown: false });
    expect(err.message).not.toContain('9012345678');
  });

  it('a 429 with Retry-After keeps the provider aside that long; a Reason that is not a plain code is left out', () => {
    expect(awsRefusal(sdkError('ThrottlingException', 429, { $response: { statusCode: 429, headers: { 'retry-after': '3' } } }), 1000)).toMatchObject({ retryable: true, retryAfterMs: 3000 });
    expect(awsRefusal(sdkError('ValidationException', 400, { Reason: 'call +819012345678' }), 1000).message).toBe('HTTP 400 (AWS ValidationException)');
  });

  it('no answer: a timeout is unknown, a refused connection is not', () => {
    expect(awsRefusal(Object.assign(new Error('x'), { name: 'TimeoutError' }), 700)).toMatchObject({ message: 'timed out after 700 ms', unknown: true, retryable: true });
    expect(awsRefusal(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 700)).toMatchObject({ message: 'connection failed', unknown: false });
    expect(awsRefusal(Object.assign(new Error('x'), { code: 'ECONNRESET' }), 700)).toMatchObject({ message: 'connection lost', unknown: true });
    expect(awsRefusal(new Error('AWS SDK error wrapper for Error: connect ECONNREFUSED 127.0.0.1:9'), 700)).toMatchObject({ message: 'connection failed', unknown: false });
  });
});
