import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Fault, FaultPlan } from './fake-faults';

/**
 * A local stand-in for AWS End User Messaging SMS (the `pinpoint-sms-voice-v2` API), speaking its wire format
 * (the awsJson1_0 protocol and the SendTextMessage reference):
 * - `POST /` with `Content-Type: application/x-amz-json-1.0` and `X-Amz-Target: PinpointSMSVoiceV2.SendTextMessage`,
 *   a JSON body (`DestinationPhoneNumber`, `OriginationIdentity`, `MessageBody`, `MessageType`, `Context`…);
 * - SigV4: the `Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/sms-voice/aws4_request,
 *   SignedHeaders=…, Signature=…` header is checked here, independently of the SDK's signer (canonical request,
 *   string to sign, the derived key): an unknown key id is 400 UnrecognizedClientException, a wrong signature
 *   400 InvalidSignatureException, as AWS answers JSON 1.0 services;
 * - answers 200 `{"MessageId": "…"}`, or the fault of `sms` (fake-faults.ts) with AWS's error bodies
 *   (`{"__type": "<Exception>", "Message": …}`, `X-Amzn-ErrorType`): `error-500` → 500 InternalServerException;
 *   `throttle-429` → 400 ThrottlingException, as AWS sends it (no Retry-After: AWS gives none); `invalid-number`
 *   → 400 ValidationException `Reason: INVALID_PARAMETER` on DestinationPhoneNumber; `hang`, `slow`, `malformed`
 *   (a truncated 200 body) as everywhere. `undelivered` is accepted: AWS sends no receipts back (they are events
 *   of a configuration set's destinations), so this fake sends none.
 */
export interface AwsSendRecord {
  headers: IncomingMessage['headers'];
  body: string;
  json: any;
  fault: Fault;
  messageId: string | null;
  answer: { status: number | null; body: string };
  at: number;
}

export interface FakeAwsSms {
  url: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  originationIdentity: string;
  sms: FaultPlan;
  /** Every SendTextMessage request that passed the signature check, in arrival order. */
  messages: AwsSendRecord[];
  /** Requests refused for their credentials or signature. */
  refused: Array<{ type: string; authorization: string | undefined }>;
  env(): Record<string, string>;
  close(): Promise<void>;
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256 = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');

/** Whether the request carries a valid SigV4 signature for `secret`; returns the key id it names (or a reason it is refused). */
function checkSigV4(req: IncomingMessage, body: string, keys: Record<string, string>, region: string): { ok: true; keyId: string } | { ok: false; type: string } {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { ok: false, type: 'MissingAuthenticationTokenException' };
  const [, keyId, date, scopeRegion, service, signedHeaders, signature] = m;
  const secret = keys[keyId];
  if (!secret) return { ok: false, type: 'UnrecognizedClientException' };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (scopeRegion !== region || service !== 'sms-voice' || !amzDate.startsWith(date)) return { ok: false, type: 'InvalidSignatureException' };
  const names = signedHeaders.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return { ok: false, type: 'InvalidSignatureException' };
  const canonicalHeaders = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const url = new URL(req.url ?? '/', 'http://x');
  const payloadHash = typeof req.headers['x-amz-content-sha256'] === 'string' ? req.headers['x-amz-content-sha256'] : sha256(body);
  if (payloadHash !== sha256(body)) return { ok: false, type: 'InvalidSignatureException' };
  const canonical = [req.method, url.pathname, url.search.slice(1), canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${scopeRegion}/${service}/aws4_request`, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), scopeRegion), service), 'aws4_request');
  const expected = Buffer.from(hmac(key, toSign).toString('hex'));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected) ? { ok: true, keyId } : { ok: false, type: 'InvalidSignatureException' };
}

export async function startFakeAwsSms(): Promise<FakeAwsSms> {
  const hanging: ServerResponse[] = [];
  const fake: FakeAwsSms = {
    url: '',
    region: 'ap-northeast-1',
    accessKeyId: 'AKIA' + randomBytes(8).toString('hex').toUpperCase(),
    secretAccessKey: randomBytes(20).toString('base64'),
    originationIdentity: 'OTPVERIFY',
    sms: new FaultPlan(),
    messages: [],
    refused: [],
    env: () => ({
      AWS_REGION: fake.region,
      AWS_ACCESS_KEY_ID: fake.accessKeyId,
      AWS_SECRET_ACCESS_KEY: fake.secretAccessKey,
      AWS_SMS_ORIGINATION_IDENTITY: fake.originationIdentity,
      AWS_API_BASE_URL: fake.url,
    }),
    close: async () => {
      for (const res of hanging) res.destroy();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };

  const reply = (res: ServerResponse, status: number, payload: unknown, record?: AwsSendRecord) => {
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    if (record) record.answer = { status, body: text };
    const type = status >= 400 && payload && typeof payload === 'object' ? String((payload as { __type?: unknown }).__type ?? '') : '';
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID(), ...(type ? { 'x-amzn-errortype': type } : {}) });
    res.end(text);
  };

  function sendTextMessage(req: IncomingMessage, res: ServerResponse, body: string): void {
    let json: any;
    try {
      json = JSON.parse(body);
    } catch {
      return reply(res, 400, { __type: 'SerializationException', Message: 'Start of structure or map found where not expected.' });
    }
    const record: AwsSendRecord = { headers: req.headers, body, json, fault: 'ok', messageId: null, answer: { status: null, body: '' }, at: Date.now() };
    fake.messages.push(record);
    if (typeof json?.DestinationPhoneNumber !== 'string') {
      return reply(res, 400, { __type: 'ValidationException', Message: '1 validation error detected', Reason: 'MISSING_PARAMETER', Fields: [{ Name: 'DestinationPhoneNumber', Message: 'Member must not be null' }] }, record);
    }
    const { fault, opts } = fake.sms.next(json.DestinationPhoneNumber);
    record.fault = fault;
    switch (fault) {
      case 'error-500':
        return reply(res, 500, { __type: 'InternalServerException', Message: 'Internal server error', RequestId: randomUUID() }, record);
      case 'throttle-429':
        return reply(res, 400, { __type: 'ThrottlingException', Message: 'Rate exceeded' }, record);
      case 'invalid-number':
        return reply(
          res,
          400,
          { __type: 'ValidationException', Message: `Invalid destination phone number ${json.DestinationPhoneNumber}`, Reason: 'INVALID_PARAMETER', Fields: [{ Name: 'DestinationPhoneNumber', Message: 'Invalid phone number' }] },
          record,
        );
      case 'hang':
        hanging.push(res);
        return;
    }
    const messageId = randomUUID();
    record.messageId = messageId;
    const answer = () => (fault === 'malformed' ? reply(res, 200, `{"MessageId":"${messageId.slice(0, 8)}`, record) : reply(res, 200, { MessageId: messageId }, record));
    if (fault === 'slow') {
      hanging.push(res);
      setTimeout(() => !res.destroyed && answer(), opts.delayMs ?? 300);
    } else answer();
  }

  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += String(d)));
    req.on('end', () => {
      const signed = checkSigV4(req, body, { [fake.accessKeyId]: fake.secretAccessKey }, fake.region);
      if (!signed.ok) {
        fake.refused.push({ type: signed.type, authorization: req.headers.authorization });
        const status = signed.type === 'MissingAuthenticationTokenException' ? 403 : 400;
        return reply(res, status, { __type: signed.type, message: signed.type === 'UnrecognizedClientException' ? 'The security token included in the request is invalid.' : 'The request signature we calculated does not match the signature you provided.' });
      }
      if (req.method !== 'POST' || req.url !== '/' || !String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.0')) {
        return reply(res, 404, { __type: 'UnknownOperationException' });
      }
      if (req.headers['x-amz-target'] === 'PinpointSMSVoiceV2.SendTextMessage') return sendTextMessage(req, res, body);
      reply(res, 400, { __type: 'UnknownOperationException' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return fake;
}
