import { createHash, createHmac, createVerify, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Fault, FaultPlan } from './fake-faults';

/**
 * A local stand-in for Vonage, speaking its wire format (the Messages API v1 and Voice API v1 references, and
 * the "signed webhooks" guide):
 * - `POST /v1/messages` (JSON: message_type text, channel sms, to and from without +, text, client_ref,
 *   webhook_url), with Basic auth (API key:secret) or a Bearer JWT (RS256, the application's private key);
 *   answers 202 `{ message_uuid }`, or the fault of `sms` (fake-faults.ts) with Vonage's RFC 7807 error bodies
 *   (`{ type, title, detail, instance }`; 422 `…#1150`-style for an invalid number, 429 with Retry-After);
 *   then the status webhooks (`submitted`, then `delivered` or `undeliverable`), JSON, each with
 *   `Authorization: Bearer <JWT HS256 signed with the signature secret, payload_hash = sha256(body)>`, to
 *   `webhook_url` (under the service's public address, swapped for `deliverTo` as a reverse proxy would);
 * - `POST /v1/calls` (JSON, Bearer JWT RS256 only): answers 201 `{ uuid, status: started, direction, conversation_uuid }`
 *   and records the NCCO.
 */
export interface VonageMessageRecord {
  headers: IncomingMessage['headers'];
  json: any;
  auth: 'basic' | 'jwt' | null;
  fault: Fault;
  uuid: string | null;
  answer: { status: number | null; body: string };
  at: number;
}

export interface VonageCallRecord {
  headers: IncomingMessage['headers'];
  json: any;
  answer: { status: number; body: string };
}

export interface VonageWebhookRecord {
  uuid: string;
  body: string;
  authorization: string;
  answer: { status: number; contentType: string | null; body: string };
}

export interface FakeVonage {
  url: string;
  apiKey: string;
  apiSecret: string;
  applicationId: string;
  privateKey: string;
  signatureSecret: string;
  fromNumber: string;
  publicBaseUrl: string;
  deliverTo: string;
  sms: FaultPlan;
  messages: VonageMessageRecord[];
  calls: VonageCallRecord[];
  webhooks: VonageWebhookRecord[];
  /** The environment that points the service at this fake (both channels' credentials). */
  env(): Record<string, string>;
  /** Resolves once every webhook sent so far was answered. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** A JWT signed HS256, written here (not imported from src/ or Vonage's SDK) so the service's check meets an independent signer. */
export function signVonageWebhook(secret: string, body: string, claims: Record<string, unknown> = {}): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(
    JSON.stringify({ iat: Math.floor(Date.now() / 1000), jti: randomUUID(), iss: 'Vonage', payload_hash: createHash('sha256').update(body).digest('hex'), ...claims }),
  );
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

function vonageError(status: number, code: string, title: string, detail: string) {
  return { type: `https://developer.vonage.com/api-errors/messages#${code}`, title, detail, instance: randomUUID() };
}

export async function startFakeVonage(): Promise<FakeVonage> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const pending: Promise<void>[] = [];
  const hanging: ServerResponse[] = [];
  const fake: FakeVonage = {
    url: '',
    apiKey: 'a1b2c3d4',
    apiSecret: randomBytes(8).toString('hex'),
    applicationId: randomUUID(),
    privateKey,
    signatureSecret: randomBytes(24).toString('hex'),
    fromNumber: '+81312340000',
    publicBaseUrl: 'https://otp.example.jp/otp-public',
    deliverTo: '',
    sms: new FaultPlan(),
    messages: [],
    calls: [],
    webhooks: [],
    env: () => ({
      VONAGE_API_KEY: fake.apiKey,
      VONAGE_API_SECRET: fake.apiSecret,
      VONAGE_APPLICATION_ID: fake.applicationId,
      VONAGE_PRIVATE_KEY: fake.privateKey,
      VONAGE_SIGNATURE_SECRET: fake.signatureSecret,
      VONAGE_FROM_NUMBER: fake.fromNumber,
      VONAGE_API_BASE_URL: fake.url,
      PUBLIC_CALLBACK_BASE_URL: fake.publicBaseUrl,
    }),
    settled: async () => {
      while (true) {
        const n = pending.length;
        await Promise.allSettled(pending);
        if (pending.length === n) return;
      }
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      await Promise.allSettled(pending);
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };

  /** Basic with the API key and secret, or a Bearer JWT (RS256) for the application, verified with its public key. */
  function authOf(req: IncomingMessage, allowBasic: boolean): 'basic' | 'jwt' | null {
    const header = req.headers.authorization ?? '';
    if (allowBasic && header === 'Basic ' + Buffer.from(`${fake.apiKey}:${fake.apiSecret}`).toString('base64')) return 'basic';
    const token = /^Bearer (.+)$/.exec(header)?.[1];
    if (!token) return null;
    const [h, p, sig] = token.split('.');
    try {
      if (JSON.parse(Buffer.from(h, 'base64url').toString()).alg !== 'RS256') return null;
      if (!createVerify('RSA-SHA256').update(`${h}.${p}`).verify(publicKey, Buffer.from(sig, 'base64url'))) return null;
      return JSON.parse(Buffer.from(p, 'base64url').toString()).application_id === fake.applicationId ? 'jwt' : null;
    } catch {
      return null;
    }
  }

  async function deliver(uuid: string, url: string, payload: Record<string, unknown>, badSignature: boolean): Promise<void> {
    if (!url.startsWith(fake.publicBaseUrl)) throw new Error(`webhook URL ${url} is not under ${fake.publicBaseUrl}`);
    const body = JSON.stringify(payload);
    const authorization = `Bearer ${signVonageWebhook(badSignature ? fake.signatureSecret + 'x' : fake.signatureSecret, body, { api_key: fake.apiKey, application_id: fake.applicationId })}`;
    const res = await fetch(fake.deliverTo + url.slice(fake.publicBaseUrl.length), { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body });
    fake.webhooks.push({ uuid, body, authorization, answer: { status: res.status, contentType: res.headers.get('content-type'), body: await res.text() } });
  }

  function sendMessage(req: IncomingMessage, res: ServerResponse, json: any): void {
    const record: VonageMessageRecord = { headers: req.headers, json, auth: authOf(req, true), fault: 'ok', uuid: null, answer: { status: null, body: '' }, at: Date.now() };
    fake.messages.push(record);
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      record.answer = { status, body: text };
      res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
      res.end(text);
    };
    if (!record.auth) return answer(401, vonageError(401, '1010', 'Unauthorized', 'You did not provide correct credentials.'));
    if (json?.message_type !== 'text' || json?.channel !== 'sms' || typeof json?.text !== 'string' || !/^\d{7,15}$/.test(json?.to ?? '') || !json?.from) {
      return answer(422, vonageError(422, '1000', 'Invalid params', 'The value of one or more parameters is invalid.'));
    }
    const { fault, opts } = fake.sms.next(`+${json.to}`);
    record.fault = fault;
    switch (fault) {
      case 'error-500':
        return answer(500, vonageError(500, '1050', 'Internal Error', 'An internal error occurred.'));
      case 'throttle-429':
        return answer(429, vonageError(429, '1020', 'Rate Limit Hit', 'Please wait, then retry your request.'), { 'retry-after': String(opts.retryAfter ?? 1) });
      case 'invalid-number':
        return answer(422, vonageError(422, '1150', 'Invalid params', `The number ${json.to} is not a valid mobile number.`));
      case 'hang':
        hanging.push(res);
        return;
    }
    const uuid = randomUUID();
    record.uuid = uuid;
    const reply = () => (fault === 'malformed' ? answer(202, `{"message_uuid":"${uuid.slice(0, 8)}`) : answer(202, { message_uuid: uuid }));
    if (fault === 'slow') {
      hanging.push(res);
      setTimeout(() => !res.destroyed && reply(), opts.delayMs ?? 300);
    } else reply();
    if (typeof json.webhook_url !== 'string' || opts.noReceipts) return;
    const base = { message_uuid: uuid, to: json.to, from: json.from, channel: 'sms', ...(json.client_ref ? { client_ref: json.client_ref } : {}) };
    let steps: Array<Record<string, unknown>> = [
      { ...base, timestamp: new Date().toISOString(), status: 'submitted', usage: { currency: 'EUR', price: '0.0700' } },
      fault === 'undelivered'
        ? { ...base, timestamp: new Date().toISOString(), status: 'undeliverable', error: { type: 'https://developer.vonage.com/api-errors/messages#1320', title: 1320, detail: 'Message undeliverable' } }
        : { ...base, timestamp: new Date().toISOString(), status: 'delivered' },
    ];
    if (opts.outOfOrder) steps = steps.reverse();
    if (opts.duplicate) steps = steps.flatMap((p) => [p, p]);
    const work = (async () => {
      if (!res.writableFinished) await new Promise((resolve) => res.on('finish', resolve));
      for (const step of steps) await deliver(uuid, json.webhook_url, step, opts.badSignature ?? false);
    })();
    pending.push(work.catch(() => undefined));
  }

  function createCall(req: IncomingMessage, res: ServerResponse, json: any): void {
    const answer = (status: number, payload: unknown) => {
      const text = JSON.stringify(payload);
      fake.calls.push({ headers: req.headers, json, answer: { status, body: text } });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(text);
    };
    if (authOf(req, false) !== 'jwt') return answer(401, { type: 'https://developer.nexmo.com/api-errors#unauthorized', title: 'Unauthorized', detail: 'Invalid token' });
    if (!Array.isArray(json?.to) || json.to[0]?.type !== 'phone' || !json?.from?.number || (!json?.ncco && !json?.answer_url)) {
      return answer(400, { type: 'https://developer.nexmo.com/api-errors/voice#bad-request', title: 'Bad Request', detail: 'Invalid call request' });
    }
    answer(201, { uuid: randomUUID(), status: 'started', direction: 'outbound', conversation_uuid: 'CON-' + randomUUID() });
  }

  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += String(d)));
    req.on('end', () => {
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      if (req.method === 'POST' && req.url === '/v1/messages') return sendMessage(req, res, json);
      if (req.method === 'POST' && req.url === '/v1/calls') return createCall(req, res, json);
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Not Found' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return fake;
}
