// Issue 11: AWS End User Messaging SMS (through the AWS SDK, against the fake AWS that checks SigV4) and the generic
// templated http provider with its HMAC-signed receipts (against a fake aggregator), through the real HTTP API on a
// real PostgreSQL.
import { createHmac } from 'node:crypto';
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import { FakeAwsSms, startFakeAwsSms } from './support/fake-aws-sms';
import { FakeServer, startFakeServer } from './support/fake-http';
import { freshPhone } from './support/phones';
import { codeOf, webhooksFor } from './support/scenario';
import { Stack, startStack } from './support/stack';
import { waitFor } from './support/wait';
import { assertWebhooksVerify } from './support/webhooks';

const TOKEN = 'aggregator-api-key-0123456789';
const RECEIPT_SECRET = 'aggregator-receipt-secret-0123456789abcdef';

interface Setup {
  aws: FakeAwsSms;
  agg: FakeServer;
  hooks: FakeServer;
  s: Stack;
  caller: { key: string };
  close(): Promise<void>;
}

/** The fake AWS, a fake aggregator behind the templated http provider, a webhook receiver, and the service. */
async function setup(env: Record<string, string>): Promise<Setup> {
  const aws = await startFakeAwsSms();
  const agg = await startFakeServer();
  const hooks = await startFakeServer();
  let n = 0;
  agg.respond = () => ({ status: 200, body: { result: { code: 0, msgid: `AGG-${++n}` } } });
  const s = await startStack({
    env: {
      ...aws.env(),
      SMS_HTTP_URL: `${agg.url}/api/sms/send`,
      PROVIDER_HTTP_TOKEN: TOKEN,
      PROVIDER_HTTP_AUTH_HEADER: 'X-API-Key',
      PROVIDER_HTTP_AUTH_VALUE: '{{token}}',
      PROVIDER_HTTP_FROM: '0005',
      PROVIDER_HTTP_ID_PATH: 'result.msgid',
      PROVIDER_HTTP_RECEIPT_SECRET: RECEIPT_SECRET,
      PROVIDER_HTTP_RECEIPT_REFERENCE_PATH: 'user_ref',
      PROVIDER_HTTP_RECEIPT_ID_PATH: 'msgid',
      PROVIDER_HTTP_RECEIPT_STATUS_PATH: 'stat',
      PROVIDER_HTTP_RECEIPT_STATUS_MAP: 'ACCEPTD=sent,DELIVRD=delivered,UNDELIV=undelivered,REJECTD=failed',
      PROVIDER_TIMEOUT_MS: '3000', // no test here needs a leg to time out; a loaded machine may take a while to answer
      PROVIDER_SEND_BUDGET_MS: '3000',
      PROVIDER_CIRCUIT_FAILURES: '100',
      OUTBOX_POLL_INTERVAL_MS: '600000', // no background retries: a test polls itself
      ...env,
    },
  });
  const caller = await s.t.createClient(['verifications:write', 'verifications:check']);
  return {
    aws,
    agg,
    hooks,
    s,
    caller,
    async close() {
      try {
        const rows = await s.db.query<{ s: string | null }>(`SELECT webhook_secret AS s FROM api_clients`);
        assertWebhooksVerify(hooks.received, rows.map((r) => r.s).filter((x): x is string => !!x));
      } finally {
        await s.close();
        await aws.close();
        await agg.close();
        await hooks.close();
      }
    },
  };
}

describe('AWS primary, the templated http provider (form) second', () => {
  let v: Setup;
  beforeAll(async () => {
    v = await setup({
      SMS_PROVIDER: 'aws,http',
      PROVIDER_HTTP_CONTENT_TYPE: 'form',
      SMS_HTTP_BODY_TEMPLATE: '{"phone":"{{to_national}}","message":"{{text}}","sender":"{{from}}","user_ref":"{{reference}}"}',
    });
  });
  afterAll(async () => v?.close());
  afterEach(() => v.aws.sms.reset());

  const start = async (phone = freshPhone()) => {
    const res = await v.s.t.request('POST', '/v1/verifications', { key: v.caller.key, body: { phoneNumber: phone, purpose: 'login', callbackUrl: `${v.hooks.url}/hooks` } });
    expect(res.status).toBe(201);
    return { id: res.body.id as string, phone };
  };
  const outbox = async (id: string) => (await v.s.db.query<any>(`SELECT * FROM outbox WHERE verification_id = $1 AND kind = 'sms'`, [id]))[0];
  const settled = (id: string) => waitFor(async () => ((await outbox(id))?.status !== 'sending' ? outbox(id) : undefined), { what: `the message of ${id} to be settled` });
  const legs = async (outboxId: string) =>
    (await v.s.db.query<{ provider: string; outcome: string; status_code: number | null }>(`SELECT provider, outcome, status_code FROM outbox_attempts WHERE outbox_id = $1 ORDER BY attempt, leg`, [outboxId])).map(
      (l) => [l.provider, l.outcome, l.status_code],
    );
  const awsTo = (phone: string) => v.aws.messages.filter((m) => m.json?.DestinationPhoneNumber === phone);
  const aggTo = (phone: string) => v.agg.received.filter((r) => new URLSearchParams(r.body).get('phone') === '0' + phone.slice(3));
  const view = async (id: string) => (await v.s.t.request('GET', `/v1/verifications/${id}`, { key: v.caller.key })).body;
  const webhookTypes = (id: string) => webhooksFor(v.hooks, id).map((h) => h.json.type);

  it('a start goes out through AWS: SendTextMessage signed with the access key, the outbox id in Context; its code approves', async () => {
    const { id, phone } = await start();
    const row = await settled(id);
    const [sent] = awsTo(phone);
    expect(sent.headers['x-amz-target']).toBe('PinpointSMSVoiceV2.SendTextMessage');
    expect(sent.headers.authorization).toContain(`Credential=${v.aws.accessKeyId}/`);
    expect(sent.json).toEqual({ DestinationPhoneNumber: phone, OriginationIdentity: 'OTPVERIFY', MessageBody: expect.any(String), MessageType: 'TRANSACTIONAL', Context: { reference: row.id } });
    expect(row).toMatchObject({ status: 'done', provider: 'aws', provider_message_id: sent.messageId, delivery_status: 'sent' });
    expect(aggTo(phone)).toHaveLength(0);
    const check = await v.s.t.request('POST', `/v1/verifications/${id}/check`, { key: v.caller.key, body: { code: codeOf(sent.json.MessageBody, 6) } });
    expect(check.body).toMatchObject({ status: 'approved', valid: true });
  });

  it.each([
    ['error-500', 500],
    ['throttle-429', 400], // AWS's ThrottlingException is an HTTP 400
  ] as const)('AWS %s → the aggregator takes it within the budget (AWS leg retryable)', async (fault, status) => {
    const phone = freshPhone();
    v.aws.sms.script(phone, fault);
    const { id } = await start(phone);
    const row = await settled(id);
    expect(await legs(row.id)).toEqual([
      ['aws', 'retryable', status],
      ['http', 'accepted', null],
    ]);
    expect(awsTo(phone)).toHaveLength(1);
    expect(aggTo(phone)).toHaveLength(1);
    expect(row).toMatchObject({ status: 'done', provider: 'http', provider_message_id: expect.stringMatching(/^AGG-\d+$/) });
  });

  it('AWS refusing the number (ValidationException) ends it failed: one verification.failed webhook, no failover, no retry', async () => {
    const phone = freshPhone();
    v.aws.sms.script(phone, 'invalid-number');
    const { id } = await start(phone);
    await waitFor(async () => (await view(id)).status === 'failed', { what: 'the verification to fail' });
    const row = await outbox(id);
    expect(row).toMatchObject({ status: 'failed', delivery_status: 'failed', attempts: 1, last_error: 'HTTP 400 (AWS ValidationException: INVALID_PARAMETER)' });
    expect(await legs(row.id)).toEqual([['aws', 'permanent', 400]]);
    await v.s.db.query(`UPDATE outbox SET next_attempt_at = now() - interval '1 hour' WHERE status = 'pending'`);
    await v.s.t.app.get(OutboxDispatcher).pollOnce();
    await waitFor(() => webhookTypes(id).length >= 1, { what: 'the verification.failed webhook' });
    await new Promise((r) => setTimeout(r, 200));
    expect(webhookTypes(id)).toEqual(['verification.failed']);
    expect(awsTo(phone)).toHaveLength(1);
    expect(aggTo(phone)).toHaveLength(0);
    expect(JSON.stringify(row)).not.toContain(phone.slice(1));
  });

  describe('the templated aggregator and its signed receipts', () => {
    /** Sends the message through the aggregator (AWS down for this number) and returns what it received. */
    const viaAggregator = async () => {
      const phone = freshPhone();
      v.aws.sms.script(phone, 'error-500');
      const { id } = await start(phone);
      const row = await settled(id);
      const [req] = aggTo(phone);
      return { id, phone, row, req };
    };
    const sign = (ts: string, body: string, secret = RECEIPT_SECRET) => createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
    const now = () => String(Math.floor(Date.now() / 1000));
    const receipt = (body: string, { ts = now(), signature }: { ts?: string; signature?: string } = {}) =>
      v.s.t.request('POST', '/v1/callbacks/http/status', { rawBody: body, headers: { 'content-type': 'application/json', 'x-timestamp': ts, 'x-signature': signature ?? sign(ts, body) } });

    it('the request is the template filled in, form-encoded, exactly; the key in its header and never in the logs; the id read at its path', async () => {
      const { phone, row, req } = await viaAggregator();
      expect(req.method).toBe('POST');
      expect(req.url).toBe('/api/sms/send');
      expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(req.headers['x-api-key']).toBe(TOKEN);
      expect(req.headers.authorization).toBeUndefined();
      const text = new URLSearchParams(req.body).get('message') as string;
      expect(text).toMatch(/\d{6}/);
      expect(req.body).toBe(new URLSearchParams({ phone: '0' + phone.slice(3), message: text, sender: '0005', user_ref: row.id }).toString());
      expect(row.provider_message_id).toBe(`AGG-${v.agg.received.indexOf(req) + 1}`);
      expect(v.s.t.logs.join('\n')).not.toContain(TOKEN);
    });

    it('a signed DELIVRD receipt → delivery.status delivered and one message.delivered webhook; a duplicate and an older status change nothing', async () => {
      const { id, row } = await viaAggregator();
      const delivered = JSON.stringify({ msgid: row.provider_message_id, user_ref: row.id, stat: 'DELIVRD' });
      expect((await receipt(delivered)).status).toBe(204);
      await waitFor(() => webhookTypes(id).length >= 1, { what: 'the message.delivered webhook' });
      expect((await view(id)).delivery).toMatchObject({ status: 'delivered', provider: 'http' });
      // the same receipt again, then an older status: answered 204, nothing moves back, no second webhook
      expect((await receipt(delivered)).status).toBe(204);
      expect((await receipt(JSON.stringify({ msgid: row.provider_message_id, user_ref: row.id, stat: 'ACCEPTD' }))).status).toBe(204);
      await new Promise((r) => setTimeout(r, 300));
      expect((await outbox(id)).delivery_status).toBe('delivered');
      expect(webhookTypes(id)).toEqual(['message.delivered']);
      const audit = await v.s.db.query<{ type: string; actor_type: string }>(`SELECT type, actor_type FROM audit_events WHERE verification_id = $1 AND type = 'message.delivered'`, [id]);
      expect(audit).toEqual([{ type: 'message.delivered', actor_type: 'provider' }]);
    });

    it('forged (another secret), stale (a genuine signature 10 minutes old) and tampered receipts are 403 problem+json and change nothing', async () => {
      const { id, row } = await viaAggregator();
      const body = JSON.stringify({ msgid: row.provider_message_id, user_ref: row.id, stat: 'DELIVRD' });
      const forged = await receipt(body, { signature: sign(now(), body, RECEIPT_SECRET + 'x') });
      const oldTs = String(Math.floor(Date.now() / 1000) - 600);
      const stale = await receipt(body, { ts: oldTs, signature: sign(oldTs, body) });
      const ts = now();
      const original = JSON.stringify({ msgid: row.provider_message_id, user_ref: row.id, stat: 'ACCEPTD' });
      const tampered = await receipt(original.replace('ACCEPTD', 'DELIVRD'), { ts, signature: sign(ts, original) });
      const unsigned = await v.s.t.request('POST', '/v1/callbacks/http/status', { rawBody: body, headers: { 'content-type': 'application/json' } });
      for (const res of [forged, stale, tampered, unsigned]) {
        expect(res.status).toBe(403);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({ status: 403, code: 'forbidden' });
      }
      expect(stale.body.detail).toContain('timestamp');
      await new Promise((r) => setTimeout(r, 200));
      expect((await outbox(id)).delivery_status).toBe('sent');
      expect(webhookTypes(id)).toEqual([]);
    });

    it('an undelivered receipt: one message.undelivered webhook; a receipt for a message of another provider changes nothing', async () => {
      const { id, row } = await viaAggregator();
      expect((await receipt(JSON.stringify({ msgid: row.provider_message_id, user_ref: row.id, stat: 'UNDELIV' }))).status).toBe(204);
      await waitFor(() => webhookTypes(id).length >= 1, { what: 'the message.undelivered webhook' });
      expect(webhookTypes(id)).toEqual(['message.undelivered']);
      // an AWS-sent message: a (genuinely signed) receipt through the http callback does not touch it
      const viaAws = await start();
      const awsRow = await settled(viaAws.id);
      expect((await receipt(JSON.stringify({ msgid: 'X', user_ref: awsRow.id, stat: 'DELIVRD' }))).status).toBe(204);
      expect((await outbox(viaAws.id)).delivery_status).toBe('sent');
    });
  });
});

describe('the templated http provider sending JSON', () => {
  let v: Setup;
  beforeAll(async () => {
    v = await setup({
      SMS_PROVIDER: 'http',
      PROVIDER_HTTP_CONTENT_TYPE: 'json',
      PROVIDER_HTTP_AUTH_HEADER: 'Authorization',
      PROVIDER_HTTP_AUTH_VALUE: 'Token {{token}}',
      SMS_HTTP_BODY_TEMPLATE: '{"messages":[{"to":"{{to_digits}}","from":"{{from}}","body":"{{text}}","client_ref":"{{reference}}"}],"type":"otp"}',
    });
  });
  afterAll(async () => v?.close());

  it('posts the template as JSON, exactly, with the token in the configured header; the message id comes from its path', async () => {
    const phone = freshPhone();
    const res = await v.s.t.request('POST', '/v1/verifications', { key: v.caller.key, body: { phoneNumber: phone, purpose: 'login' } });
    expect(res.status).toBe(201);
    const req = await waitFor(() => v.agg.received.find((r) => r.json?.messages?.[0]?.to === phone.slice(1)), { what: 'the message at the aggregator' });
    const row = await waitFor(async () => {
      const [r] = await v.s.db.query<any>(`SELECT * FROM outbox WHERE verification_id = $1`, [res.body.id]);
      return r?.status === 'done' ? r : undefined;
    }, { what: 'the message to be sent' });
    const text = req.json.messages[0].body as string;
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers.authorization).toBe(`Token ${TOKEN}`);
    expect(req.body).toBe(JSON.stringify({ messages: [{ to: phone.slice(1), from: '0005', body: text, client_ref: row.id }], type: 'otp' }));
    expect(row).toMatchObject({ provider: 'http', provider_message_id: 'AGG-1' });
    const check = await v.s.t.request('POST', `/v1/verifications/${res.body.id}/check`, { key: v.caller.key, body: { code: codeOf(text, 6) } });
    expect(check.body).toMatchObject({ status: 'approved' });
    expect(v.s.t.logs.join('\n')).not.toContain(TOKEN);
  });
});
