import { createHash, createHmac, createVerify, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Fault, FaultPlan } from './fake-faults';
import { waitFor } from './wait';

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
 *   and records the NCCO; or, for a number scripted `create-error`, Vonage's error body with the status asked for.
 * - IVR check calls (a create-call request with an `event_url` and an NCCO `input`): the fake then plays the call
 *   scripted for the number (`script`), as the Voice API webhook reference describes it: JSON event webhooks to
 *   `event_url` (`status` started, ringing, answered, human/machine when `machine_detection` was asked for
 *   (`call_uuid`, not `uuid`, on those), then completed, or the end: busy, timeout, unanswered, rejected with
 *   `detail` invalid_number, failed with `detail` number_out_of_service or cannot_route), each with `timestamp`
 *   (ISO 8601), and the input webhook to the NCCO input's `eventUrl` (`dtmf: { digits, timed_out }`), whose answer
 *   must be an NCCO. Every webhook is signed as the status webhooks are; what the service answered is recorded.
 *   Adversarial options: every webhook twice, the events last-first (the input, a request inside the call, keeps
 *   its place), signed with another secret, or not signed at all. The fake sends no `completed` after a call that
 *   was never answered (busy, timeout, unanswered, rejected, failed).
 */
export type VonageCallScenario =
  | 'press' // answers, presses the key (`digits`, default 1)
  | 'wrong-key' // answers, presses another key (`digits`, default 2)
  | 'silence' // answers, presses nothing: the input times out
  | 'machine' // an answering machine picks up (status machine)
  | 'busy'
  | 'timeout' // rings past ringing_timer
  | 'unanswered'
  | 'invalid-number' // rejected, detail invalid_number
  | 'out-of-service' // failed, detail number_out_of_service
  | 'cannot-route' // failed, detail cannot_route
  | 'create-error'; // the create-call request itself is refused (`error.status`, default 503)

export interface VonageCallScript {
  digits?: string;
  error?: { status: number };
  duplicate?: boolean;
  outOfOrder?: boolean;
  badSignature?: boolean;
  unsigned?: boolean;
}

export interface VonageCallWebhookRecord {
  uuid: string;
  kind: 'event' | 'input';
  /** The URL Vonage "called" (public address). */
  url: string;
  body: string;
  authorization: string | null;
  answer: { status: number; contentType: string | null; body: string };
}

export interface FakeVonageCall {
  uuid: string;
  /** E.164, with +. */
  to: string;
  scenario: VonageCallScenario;
  done: Promise<void>;
  finished: boolean;
}

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
  /** IVR check calls placed, and the webhooks they sent. */
  checkCalls: FakeVonageCall[];
  callWebhooks: VonageCallWebhookRecord[];
  script(to: string, scenario: VonageCallScenario, opts?: VonageCallScript): void;
  /** The check call placed to `to` (the last one), once all its webhooks were answered. */
  finishedCallTo(to: string, timeoutMs?: number): Promise<FakeVonageCall>;
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
  const scripts = new Map<string, { scenario: VonageCallScenario; opts: VonageCallScript }>();
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
    checkCalls: [],
    callWebhooks: [],
    script: (to, scenario, opts = {}) => void scripts.set(to, { scenario, opts }),
    finishedCallTo: (to, timeoutMs = 10000) =>
      waitFor(() => [...fake.checkCalls].reverse().find((c) => c.to === to && c.finished), { timeoutMs, what: `a finished call to ${to} at the fake Vonage` }),
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

  /** POSTs one call webhook as Vonage would (JSON, signed), and records it with the service's answer. */
  async function deliverCallWebhook(call: FakeVonageCall, kind: 'event' | 'input', url: string, payload: Record<string, unknown>, opts: VonageCallScript): Promise<void> {
    if (!url.startsWith(fake.publicBaseUrl)) throw new Error(`webhook URL ${url} is not under ${fake.publicBaseUrl}`);
    const body = JSON.stringify(payload);
    const secret = opts.badSignature ? fake.signatureSecret + 'x' : fake.signatureSecret;
    const authorization = opts.unsigned ? null : `Bearer ${signVonageWebhook(secret, body, { api_key: fake.apiKey, application_id: fake.applicationId })}`;
    const res = await fetch(fake.deliverTo + url.slice(fake.publicBaseUrl.length), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Vonage-Voice', ...(authorization ? { authorization } : {}) },
      body,
    });
    fake.callWebhooks.push({ uuid: call.uuid, kind, url, body, authorization, answer: { status: res.status, contentType: res.headers.get('content-type'), body: await res.text() } });
  }

  /** The webhooks of one check call, in the order Vonage sends them (or as the adversarial options say). */
  function drive(call: FakeVonageCall, json: any, opts: VonageCallScript): Array<() => Promise<void>> {
    const eventUrl: string | undefined = json.event_url?.[0];
    const input = (json.ncco as Array<Record<string, any>>).find((a) => a.action === 'input');
    const inputUrl: string | undefined = input && Array.isArray(input.type) && input.type.includes('dtmf') ? input.eventUrl?.[0] : undefined;
    const maxDigits: number | undefined = input?.dtmf?.maxDigits;
    const conversation = 'CON-' + randomUUID();
    const from = json.from?.number;
    const to = call.to.slice(1);
    const now = () => new Date().toISOString();
    type Step = { kind: 'event' | 'input'; payload: () => Record<string, unknown> };
    const event = (status: string, extra: Record<string, unknown> = {}): Step => ({
      kind: 'event',
      payload: () => ({ from, to, uuid: call.uuid, conversation_uuid: conversation, status, direction: 'outbound', timestamp: now(), ...extra }),
    });
    // Machine detection events name the call `call_uuid`.
    const detected = (status: 'human' | 'machine'): Step[] =>
      json.machine_detection ? [{ kind: 'event', payload: () => ({ call_uuid: call.uuid, from, to, status, conversation_uuid: conversation, timestamp: now() }) }] : [];
    const pressed = (digits: string, timedOut: boolean): Step => ({
      kind: 'input',
      payload: () => ({ from, to, uuid: call.uuid, conversation_uuid: conversation, timestamp: now(), dtmf: { digits: digits.slice(0, maxDigits ?? undefined), timed_out: timedOut } }),
    });
    const completed = event('completed', { start_time: now(), end_time: now(), duration: '9', network: '44010', rate: '0.10000000', price: '0.01500000' });
    const answered = [event('started'), event('ringing'), event('answered', { start_time: null, rate: null, network: null })];
    let steps: Step[];
    switch (call.scenario) {
      case 'press':
        steps = [...answered, ...detected('human'), pressed(opts.digits ?? '1', false), completed];
        break;
      case 'wrong-key':
        steps = [...answered, ...detected('human'), pressed(opts.digits ?? '2', false), completed];
        break;
      case 'silence':
        steps = [...answered, ...detected('human'), pressed('', true), completed];
        break;
      case 'machine':
        // machine_detection `hangup` ends the call at once; `continue` plays the NCCO to the machine.
        steps = [...answered, ...detected('machine'), ...(json.machine_detection === 'hangup' ? [] : [pressed('', true)]), completed];
        break;
      case 'busy':
        steps = [event('started'), event('ringing'), event('busy')];
        break;
      case 'timeout':
        steps = [event('started'), event('ringing'), event('timeout')];
        break;
      case 'unanswered':
        steps = [event('started'), event('ringing'), event('unanswered')];
        break;
      case 'invalid-number':
        steps = [event('started'), event('rejected', { detail: 'invalid_number' })];
        break;
      case 'out-of-service':
        steps = [event('started'), event('failed', { detail: 'number_out_of_service' })];
        break;
      case 'cannot-route':
        steps = [event('started'), event('failed', { detail: 'cannot_route' })];
        break;
      default:
        steps = [];
    }
    if (opts.outOfOrder) steps = [...steps.filter((st) => st.kind === 'input'), ...steps.filter((st) => st.kind === 'event').reverse()];
    const sends: Array<() => Promise<void>> = [];
    for (const step of steps) {
      const url = step.kind === 'event' ? eventUrl : inputUrl;
      if (!url) continue;
      const payload = step.payload();
      const send = () => deliverCallWebhook(call, step.kind, url, payload, opts);
      sends.push(send, ...(opts.duplicate ? [send] : []));
    }
    return sends;
  }

  function createCall(req: IncomingMessage, res: ServerResponse, json: any): void {
    const answer = (status: number, payload: unknown) => {
      const text = JSON.stringify(payload);
      fake.calls.push({ headers: req.headers, json, answer: { status, body: text } });
      res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' });
      res.end(text);
    };
    if (authOf(req, false) !== 'jwt') return answer(401, { type: 'https://developer.nexmo.com/api-errors#unauthorized', title: 'Unauthorized', detail: 'Invalid token' });
    if (!Array.isArray(json?.to) || json.to[0]?.type !== 'phone' || !json?.from?.number || (!json?.ncco && !json?.answer_url)) {
      return answer(400, { type: 'https://developer.nexmo.com/api-errors/voice#bad-request', title: 'Bad Request', detail: 'Invalid call request' });
    }
    const to = `+${json.to[0].number}`;
    const { scenario, opts } = scripts.get(to) ?? { scenario: 'press' as const, opts: {} };
    const isCheckCall = Array.isArray(json.event_url) && Array.isArray(json.ncco) && json.ncco.some((a: { action?: unknown }) => a.action === 'input');
    if (isCheckCall && scenario === 'create-error') {
      const status = opts.error?.status ?? 503;
      return answer(status, { type: `https://developer.nexmo.com/api-errors#${status >= 500 ? 'internal-error' : 'bad-request'}`, title: status >= 500 ? 'Service Unavailable' : 'Bad Request', detail: 'The call could not be created.', instance: randomUUID() });
    }
    const uuid = randomUUID();
    answer(201, { uuid, status: 'started', direction: 'outbound', conversation_uuid: 'CON-' + randomUUID() });
    if (!isCheckCall) return;
    let markDone = () => undefined as void;
    const call: FakeVonageCall = { uuid, to, scenario, finished: false, done: new Promise<void>((resolve) => (markDone = resolve)) };
    void call.done.then(() => (call.finished = true));
    fake.checkCalls.push(call);
    const sends = drive(call, json, opts);
    const work = (async () => {
      // The call goes on after Vonage's answer: its webhooks follow, one after the other.
      if (!res.writableFinished) await new Promise((resolve) => res.on('finish', resolve));
      try {
        for (const send of sends) await send();
      } finally {
        markDone();
      }
    })();
    pending.push(work.catch(() => undefined));
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
