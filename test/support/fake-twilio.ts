import { createHmac, randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Fault, FaultOptions, FaultPlan } from './fake-faults';
import { waitFor } from './wait';

/**
 * A local stand-in for Twilio Programmable Voice, speaking its wire format (the twilio-oai definitions of
 * api/v2010 Calls.json and Twilio's webhook docs):
 * - `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`, form-encoded, Basic auth AccountSid:AuthToken; answers
 *   201 with the call resource (`sid` CA…, `status` queued), or Twilio's error body `{ code, message, more_info,
 *   status }` (401 code 20003 for bad credentials, 400 code 21201 without To, or the scripted error);
 * - then drives the call: form-encoded callbacks signed with `X-Twilio-Signature`, to the StatusCallback URL
 *   (`CallStatus`, `SequenceNumber`, `Timestamp`, `CallbackSource`, `SipResponseCode`, `AnsweredBy`,
 *   `CallDuration`; only for the StatusCallbackEvent values asked for, terminal statuses always) and to the
 *   `<Gather action>` URL of the TwiML given (`Digits`, `FinishedOnKey`).
 *
 * Callback URLs name the service's public address (PUBLIC_CALLBACK_BASE_URL, `publicBaseUrl` here, made up):
 * they are signed as given, and delivered to `deliverTo` with that prefix swapped, as a reverse proxy would.
 * What happens is scripted per called number; every request and every callback is recorded with its answer.
 *
 * And Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form: To, From, Body,
 * StatusCallback), answering 201 with the message resource (`sid` SM…, `status` queued) or the fault of
 * `sms` (fake-faults.ts: Twilio's error bodies, 429 with Retry-After, hangs…), then the signed status callbacks
 * (`MessageStatus` sent, then delivered or undelivered with `ErrorCode` 30003) to the StatusCallback URL.
 */

export type TwilioScenario =
  | 'press' // answers, presses the key (`digits`, default 1)
  | 'wrong-key' // answers, presses another key (`digits`, default 2)
  | 'silence' // answers, presses nothing: the <Gather> times out
  | 'voicemail' // an answering machine picks up (AnsweredBy machine_end_beep)
  | 'busy'
  | 'no-answer'
  | 'unallocated' // failed, SIP 404
  | 'out-of-service' // failed, SIP 410
  | 'unavailable' // failed, SIP 480
  | 'rejected' // failed, SIP 603
  | 'route-error' // failed, SIP 503
  | 'create-error'; // the create-call request itself is refused (`error`)

export interface ScriptOptions {
  /** The key(s) pressed in `press` / `wrong-key`. */
  digits?: string;
  /** For `create-error`: the HTTP status and Twilio error code (default 503, code 20500). */
  error?: { status: number; code: number; message?: string };
  /** Every callback is sent twice, identically. */
  duplicate?: boolean;
  /** The status callbacks arrive last-first (the <Gather> action, a request inside the call, keeps its place before completed). */
  outOfOrder?: boolean;
  /** This many callbacks (Infinity: all) are delivered, and answered, before the create-call request is. */
  callbacksBeforeAnswer?: number;
  /** The callbacks are signed with another auth token. */
  badSignature?: boolean;
}

export interface ParsedTwiml {
  says: string[];
  gather: { numDigits: number | null; action: string | null; timeout: number | null } | null;
}

export interface CreateCallRecord {
  headers: IncomingMessage['headers'];
  /** The form as sent (repeated keys kept). */
  form: Array<[string, string]>;
  twiml: ParsedTwiml | null;
  answer: { status: number; body: any };
}

export interface CallbackRecord {
  callSid: string;
  kind: 'status' | 'gather';
  /** The URL Twilio "called" (public address) and signed. */
  url: string;
  params: Record<string, string>;
  signature: string;
  answer: { status: number; contentType: string | null; body: string };
}

export interface SmsRecord {
  headers: IncomingMessage['headers'];
  form: Record<string, string>;
  fault: Fault;
  /** The sid of an accepted message. */
  sid: string | null;
  answer: { status: number | null; body: string };
  at: number;
}

export interface SmsCallbackRecord {
  sid: string;
  url: string;
  params: Record<string, string>;
  signature: string;
  answer: { status: number; contentType: string | null; body: string };
}

export interface FakeCall {
  sid: string;
  to: string;
  scenario: TwilioScenario;
  /** Resolves once every callback of the call was delivered and answered. */
  done: Promise<void>;
  finished: boolean;
}

export interface FakeTwilio {
  /** TWILIO_API_BASE_URL. */
  url: string;
  accountSid: string;
  authToken: string;
  fromNumber: string;
  /** PUBLIC_CALLBACK_BASE_URL as the service is told it. */
  publicBaseUrl: string;
  /** Where callbacks really go (the service's address): set once it listens. */
  deliverTo: string;
  requests: CreateCallRecord[];
  callbacks: CallbackRecord[];
  calls: FakeCall[];
  script(to: string, scenario: TwilioScenario, opts?: ScriptOptions): void;
  /** What Messages.json answers (per number, or a plan over all requests). */
  sms: FaultPlan;
  messages: SmsRecord[];
  smsCallbacks: SmsCallbackRecord[];
  /** Resolves once every status callback sent so far was answered. */
  settled(): Promise<void>;
  /** The environment that points the service at this fake. */
  env(): Record<string, string>;
  /**
   * A person calls `to` (the service's number) from `from`: Twilio's signed voice webhook for an incoming call, to
   * PUBLIC_CALLBACK_BASE_URL/v1/callbacks/twilio/inbound-calls. Answers the service's status and TwiML.
   */
  inboundCall(from: string, to: string, opts?: { badSignature?: boolean }): Promise<{ status: number; body: string }>;
  /** The call placed to `to` (the last one), once all its callbacks were answered. */
  finishedCallTo(to: string, timeoutMs?: number): Promise<FakeCall>;
  close(): Promise<void>;
}

/**
 * Twilio's signature, written here once more (and not imported from src/), so that the service's own is checked
 * against an independent implementation: base64(HMAC-SHA1(authToken, url + name1 + value1 + name2 + …)), names sorted.
 */
export function signTwilio(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + name + params[name], url);
  return createHmac('sha1', Buffer.from(authToken, 'utf8')).update(Buffer.from(data, 'utf8')).digest('base64');
}

const unescapeXml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
const attr = (tag: string, name: string) => {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? unescapeXml(m[1]) : null;
};

/** The parts of the TwiML the fake acts on: the <Say> texts and the <Gather> attributes. */
export function parseTwiml(twiml: string): ParsedTwiml {
  // The spoken text, without its SSML (e.g. <prosody rate="slow">).
  const says = [...twiml.matchAll(/<Say[^>]*>([\s\S]*?)<\/Say>/g)].map((m) => unescapeXml(m[1].replace(/<[^>]+>/g, '')));
  const tag = /<Gather\b[^>]*>/.exec(twiml)?.[0];
  const num = (v: string | null) => (v !== null && /^\d+$/.test(v) ? Number(v) : null);
  return { says, gather: tag ? { numDigits: num(attr(tag, 'numDigits')), action: attr(tag, 'action'), timeout: num(attr(tag, 'timeout')) } : null };
}

type Step = { kind: 'status'; params: Record<string, string>; event: string; terminal: boolean } | { kind: 'gather'; params: Record<string, string> };

function stepsFor(scenario: TwilioScenario, opts: ScriptOptions): Step[] {
  const status = (CallStatus: string, extra: Record<string, string> = {}): Step => {
    const event = CallStatus === 'in-progress' ? 'answered' : CallStatus === 'queued' ? 'initiated' : CallStatus;
    const terminal = ['completed', 'busy', 'no-answer', 'failed', 'canceled'].includes(CallStatus);
    return { kind: 'status', event: terminal ? 'completed' : event, terminal, params: { CallStatus, ...extra } };
  };
  const failed = (sip: number) => [status('initiated'), status('failed', { SipResponseCode: String(sip), CallDuration: '0' })];
  const answered = (answeredBy: string) => [status('initiated'), status('ringing'), status('in-progress', { AnsweredBy: answeredBy })];
  const completed = (answeredBy: string) => status('completed', { SipResponseCode: '200', AnsweredBy: answeredBy, CallDuration: '9' });
  const gather = (digits: string): Step => ({ kind: 'gather', params: { CallStatus: 'in-progress', Digits: digits, FinishedOnKey: '' } });
  switch (scenario) {
    case 'press':
      return [...answered('human'), gather(opts.digits ?? '1'), completed('human')];
    case 'wrong-key':
      return [...answered('human'), gather(opts.digits ?? '2'), completed('human')];
    case 'silence':
      return [...answered('human'), completed('human')];
    case 'voicemail':
      return [...answered('machine_end_beep'), completed('machine_end_beep')];
    case 'busy':
      return [status('initiated'), status('ringing'), status('busy', { SipResponseCode: '486', CallDuration: '0' })];
    case 'no-answer':
      return [status('initiated'), status('ringing'), status('no-answer', { SipResponseCode: '487', CallDuration: '0' })];
    case 'unallocated':
      return failed(404);
    case 'out-of-service':
      return failed(410);
    case 'unavailable':
      return failed(480);
    case 'rejected':
      return failed(603);
    case 'route-error':
      return failed(503);
    case 'create-error':
      return [];
  }
}

function twilioError(status: number, code: number, message: string) {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

export async function startFakeTwilio(): Promise<FakeTwilio> {
  const accountSid = 'AC' + randomBytes(16).toString('hex');
  const authToken = randomBytes(16).toString('hex');
  const scripts = new Map<string, { scenario: TwilioScenario; opts: ScriptOptions }>();
  const pending: Promise<void>[] = [];
  const hanging: ServerResponse[] = [];

  const fake: FakeTwilio = {
    url: '',
    accountSid,
    authToken,
    fromNumber: '+81312345678',
    publicBaseUrl: 'https://otp.example.jp/otp-public',
    deliverTo: '',
    requests: [],
    callbacks: [],
    calls: [],
    sms: new FaultPlan(),
    messages: [],
    smsCallbacks: [],
    settled: async () => {
      while (true) {
        const n = pending.length;
        await Promise.allSettled(pending);
        if (pending.length === n) return;
      }
    },
    script: (to, scenario, opts = {}) => void scripts.set(to, { scenario, opts }),
    env: () => ({
      VOICE_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: accountSid,
      TWILIO_AUTH_TOKEN: authToken,
      TWILIO_FROM_NUMBER: fake.fromNumber,
      TWILIO_API_BASE_URL: fake.url,
      PUBLIC_CALLBACK_BASE_URL: fake.publicBaseUrl,
    }),
    inboundCall: async (from, to, opts = {}) => {
      const url = `${fake.publicBaseUrl}/v1/callbacks/twilio/inbound-calls`;
      const params = {
        AccountSid: accountSid, ApiVersion: '2010-04-01', CallSid: 'CA' + randomBytes(16).toString('hex'), CallStatus: 'ringing', Called: to, Caller: from,
        Direction: 'inbound', From: from, To: to, CallerCountry: 'JP', ToCountry: 'JP',
      };
      const res = await fetch(fake.deliverTo + url.slice(fake.publicBaseUrl.length), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signTwilio(opts.badSignature ? authToken + 'x' : authToken, url, params) },
        body: new URLSearchParams(params).toString(),
      });
      return { status: res.status, body: await res.text() };
    },
    finishedCallTo: (to, timeoutMs = 10000) =>
      waitFor(() => [...fake.calls].reverse().find((c) => c.to === to && c.finished), { timeoutMs, what: `a finished call to ${to} at the fake Twilio` }),
    close: async () => {
      for (const res of hanging) res.destroy();
      await Promise.allSettled(pending);
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };

  /** POSTs one callback as Twilio would, and records it with the service's answer. */
  async function deliver(call: FakeCall, kind: 'status' | 'gather', url: string, params: Record<string, string>, opts: ScriptOptions): Promise<void> {
    const signature = signTwilio(opts.badSignature ? authToken + 'x' : authToken, url, params);
    if (!url.startsWith(fake.publicBaseUrl)) throw new Error(`callback URL ${url} is not under ${fake.publicBaseUrl}`);
    const res = await fetch(fake.deliverTo + url.slice(fake.publicBaseUrl.length), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'user-agent': 'TwilioProxy/1.1' },
      body: new URLSearchParams(params).toString(),
    });
    fake.callbacks.push({ callSid: call.sid, kind, url, params, signature, answer: { status: res.status, contentType: res.headers.get('content-type'), body: await res.text() } });
  }

  /** Plays the script's callbacks, in order (or as the adversarial options say), one after the other. */
  function drive(call: FakeCall, form: URLSearchParams, twiml: ParsedTwiml | null, opts: ScriptOptions): Array<() => Promise<void>> {
    const statusUrl = form.get('StatusCallback');
    const asked = new Set(form.getAll('StatusCallbackEvent'));
    const common = { AccountSid: accountSid, ApiVersion: '2010-04-01', CallSid: call.sid, Called: call.to, Caller: form.get('From') ?? '', Direction: 'outbound-api', From: form.get('From') ?? '', To: call.to };
    // SequenceNumber counts the status callbacks in the order Twilio sends them, whatever order they arrive in.
    let sequence = 0;
    let steps = stepsFor(call.scenario, opts)
      .filter((s) => s.kind === 'gather' || s.terminal || asked.has(s.event))
      .map((s) => (s.kind === 'status' ? { ...s, params: { ...s.params, CallbackSource: 'call-progress-events', SequenceNumber: String(sequence++) } } : s));
    if (opts.outOfOrder) {
      const gathers = steps.filter((s) => s.kind === 'gather');
      const statuses = steps.filter((s) => s.kind === 'status').reverse();
      steps = [...gathers, ...statuses];
    }
    const sends: Array<() => Promise<void>> = [];
    for (const step of steps) {
      let send: (() => Promise<void>) | null = null;
      if (step.kind === 'status' && statusUrl) {
        const params = { ...common, ...step.params, Timestamp: new Date().toUTCString().replace('GMT', '+0000') };
        send = () => deliver(call, 'status', statusUrl, params, opts);
      } else if (step.kind === 'gather' && twiml?.gather?.action) {
        const digits = step.params.Digits.slice(0, twiml.gather.numDigits ?? undefined);
        const action = twiml.gather.action;
        send = () => deliver(call, 'gather', action, { ...common, ...step.params, Digits: digits }, opts);
      }
      if (send) sends.push(send, ...(opts.duplicate ? [send] : []));
    }
    return sends;
  }

  async function createCall(req: IncomingMessage, body: string, accountInPath: string): Promise<{ status: number; body: unknown; before?: Array<() => Promise<void>>; after?: Array<() => Promise<void>>; call?: FakeCall }> {
    const expected = 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64');
    if (req.headers.authorization !== expected || accountInPath !== accountSid) return { status: 401, body: twilioError(401, 20003, 'Authenticate') };
    const form = new URLSearchParams(body);
    const to = form.get('To');
    if (!to) return { status: 400, body: twilioError(400, 21201, "No 'To' number is specified") };
    if (!form.get('From')) return { status: 400, body: twilioError(400, 21213, "No 'From' number is specified") };
    const { scenario, opts } = scripts.get(to) ?? { scenario: 'press' as const, opts: {} };
    if (scenario === 'create-error') {
      const e = opts.error ?? { status: 503, code: 20500, message: 'Internal Server Error' };
      return { status: e.status, body: twilioError(e.status, e.code, e.message ?? 'Error') };
    }
    const twimlText = form.get('Twiml');
    const twiml = twimlText ? parseTwiml(twimlText) : null;
    const sid = 'CA' + randomBytes(16).toString('hex');
    let markDone = () => undefined as void;
    const call: FakeCall = { sid, to, scenario, finished: false, done: new Promise<void>((resolve) => (markDone = resolve)) };
    void call.done.then(() => (call.finished = true));
    fake.calls.push(call);
    const sends = drive(call, form, twiml, opts);
    const early = Math.min(opts.callbacksBeforeAnswer ?? 0, sends.length);
    const now = new Date().toUTCString().replace('GMT', '+0000');
    const resource = {
      account_sid: accountSid, annotation: null, answered_by: null, api_version: '2010-04-01', caller_name: null, date_created: now, date_updated: now,
      direction: 'outbound-api', duration: null, end_time: null, forwarded_from: null, from: form.get('From'), from_formatted: form.get('From'),
      group_sid: null, parent_call_sid: null, phone_number_sid: 'PN' + randomBytes(16).toString('hex'), price: null, price_unit: 'USD', queue_time: '0',
      sid, start_time: null, status: 'queued', to, to_formatted: to, trunk_sid: null,
      uri: `/2010-04-01/Accounts/${accountSid}/Calls/${sid}.json`,
      subresource_uris: { notifications: `/2010-04-01/Accounts/${accountSid}/Calls/${sid}/Notifications.json`, recordings: `/2010-04-01/Accounts/${accountSid}/Calls/${sid}/Recordings.json` },
    };
    const after = [...sends.slice(early), async () => markDone()];
    return { status: 201, body: resource, before: sends.slice(0, early), after, call };
  }

  /** POSTs one message status callback as Twilio would, and records it with the service's answer. */
  async function deliverSms(sid: string, url: string, params: Record<string, string>, opts: FaultOptions): Promise<void> {
    const signature = signTwilio(opts.badSignature ? authToken + 'x' : authToken, url, params);
    if (!url.startsWith(fake.publicBaseUrl)) throw new Error(`callback URL ${url} is not under ${fake.publicBaseUrl}`);
    const res = await fetch(fake.deliverTo + url.slice(fake.publicBaseUrl.length), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'user-agent': 'TwilioProxy/1.1' },
      body: new URLSearchParams(params).toString(),
    });
    fake.smsCallbacks.push({ sid, url, params, signature, answer: { status: res.status, contentType: res.headers.get('content-type'), body: await res.text() } });
  }

  function createMessage(req: IncomingMessage, res: ServerResponse, body: string, accountInPath: string): void {
    const form = Object.fromEntries(new URLSearchParams(body));
    const record: SmsRecord = { headers: req.headers, form, fault: 'ok', sid: null, answer: { status: null, body: '' }, at: Date.now() };
    fake.messages.push(record);
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      record.answer = { status, body: text };
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(text);
    };
    const expected = 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64');
    if (req.headers.authorization !== expected || accountInPath !== accountSid) return answer(401, twilioError(401, 20003, 'Authenticate'));
    if (!form.To) return answer(400, twilioError(400, 21604, "A 'To' phone number is required."));
    if (!form.From) return answer(400, twilioError(400, 21603, "A 'From' phone number is required."));
    if (!form.Body) return answer(400, twilioError(400, 21602, 'Message body is required.'));
    const { fault, opts } = fake.sms.next(form.To);
    record.fault = fault;
    switch (fault) {
      case 'error-500':
        return answer(500, twilioError(500, 20500, 'Internal Server Error'));
      case 'throttle-429':
        return answer(429, twilioError(429, 20429, 'Too Many Requests'), { 'retry-after': String(opts.retryAfter ?? 1) });
      case 'invalid-number':
        return answer(400, twilioError(400, 21211, `The 'To' number ${form.To} is not a valid phone number.`));
      case 'hang':
        hanging.push(res);
        return;
    }
    const sid = 'SM' + randomBytes(16).toString('hex');
    record.sid = sid;
    const now = new Date().toUTCString().replace('GMT', '+0000');
    const resource = {
      account_sid: accountSid, api_version: '2010-04-01', body: form.Body, date_created: now, date_sent: null, date_updated: now, direction: 'outbound-api',
      error_code: null, error_message: null, from: form.From, messaging_service_sid: null, num_media: '0', num_segments: '1', price: null, price_unit: 'USD',
      sid, status: 'queued', subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` }, to: form.To,
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
    };
    const reply = () => (fault === 'malformed' ? answer(201, JSON.stringify(resource).slice(0, 40)) : answer(201, resource));
    if (fault === 'slow') {
      hanging.push(res);
      setTimeout(() => !res.destroyed && reply(), opts.delayMs ?? 300);
    } else reply();
    const url = form.StatusCallback;
    if (!url || opts.noReceipts) return;
    const common = { AccountSid: accountSid, ApiVersion: '2010-04-01', From: form.From, To: form.To, MessageSid: sid, SmsSid: sid };
    let steps: Array<Record<string, string>> = [
      { ...common, MessageStatus: 'sent', SmsStatus: 'sent' },
      fault === 'undelivered' ? { ...common, MessageStatus: 'undelivered', SmsStatus: 'undelivered', ErrorCode: '30003' } : { ...common, MessageStatus: 'delivered', SmsStatus: 'delivered' },
    ];
    if (opts.outOfOrder) steps = steps.reverse();
    if (opts.duplicate) steps = steps.flatMap((p) => [p, p]);
    const work = (async () => {
      if (!res.writableFinished) await new Promise((resolve) => res.on('finish', resolve));
      for (const params of steps) await deliverSms(sid, url, params, opts);
    })();
    pending.push(work.catch(() => undefined));
  }

  const server: Server = createServer((req, res: ServerResponse) => {
    let body = '';
    req.on('data', (d) => (body += String(d)));
    req.on('end', () => {
      const sms = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(req.url ?? '');
      if (req.method === 'POST' && sms) return createMessage(req, res, body, decodeURIComponent(sms[1]));
      const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Calls\.json$/.exec(req.url ?? '');
      const work = (async () => {
        if (req.method !== 'POST' || !m) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify(twilioError(404, 20404, 'The requested resource was not found')));
          return;
        }
        const answer = await createCall(req, body, decodeURIComponent(m[1]));
        const form = [...new URLSearchParams(body).entries()];
        const twimlText = new URLSearchParams(body).get('Twiml');
        fake.requests.push({ headers: req.headers, form, twiml: twimlText ? parseTwiml(twimlText) : null, answer: { status: answer.status, body: answer.body } });
        for (const send of answer.before ?? []) await send();
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
        if (answer.after) {
          // Twilio's calls go on after its answer: the callbacks follow, one after the other.
          if (!res.writableFinished) await new Promise((resolve) => res.on('finish', resolve));
          for (const send of answer.after) await send();
        }
      })();
      pending.push(work.catch(() => undefined));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return fake;
}
