import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestResponse } from './support/app';
import { FakeClock } from './support/fake-clock';
import { describeErrors, DocumentSchemas } from './support/openapi';
import { freshPhone } from './support/phones';
import { ROOT } from './support/process';
import { codeSentTo, webhooksFor } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { waitFor } from './support/wait';

/**
 * Issue 12 item 3, "what it must show": the answers of a full flow validate against the served OpenAPI
 * document. The served /docs-json is the committed packages/client/openapi.json; every answer below is checked
 * against the operation's documented answer for its status and content type, with objects closed (a field
 * the document does not describe fails), its documented headers present, and for a problem its code one of
 * those the operation lists. At the end every operation of the document has been answered with success.
 */
type Json = Record<string, any>;
const DEFAULT_CODES = ['internal_error', 'method_not_allowed', 'request_timeout', 'uri_too_long', 'headers_too_large'];

describe('the answers of the service match its OpenAPI document', () => {
  let s: SmsStack;
  let doc: Json;
  let schemas: DocumentSchemas;
  let admin: string;
  const clock = new FakeClock();
  const answered = new Map<string, Set<number>>();

  /** Sends a request to an operation of the document and checks the answer against it. */
  async function call(
    method: string,
    template: string,
    { params = {}, query = '', key, body, rawBody, headers }: { params?: Record<string, string>; query?: string; key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<TestResponse> {
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name]));
    const res = await s.t.request(method, path + query, { key, body, rawBody, headers });
    const op = doc.paths[template]?.[method.toLowerCase()];
    const where = `${method} ${template} → ${res.status}`;
    expect([where, !!op]).toEqual([where, true]);
    let response: Json | undefined = op.responses[String(res.status)];
    if (!response && res.status >= 400 && DEFAULT_CODES.includes(res.body?.code)) response = op.responses.default;
    expect([where, 'documented', !!response]).toEqual([where, 'documented', true]);
    const type = (res.headers.get('content-type') ?? '').split(';')[0].trim();
    const media = response!.content?.[type];
    expect([where, type, Object.keys(response!.content ?? {})]).toEqual([where, type, expect.arrayContaining([type])]);
    const value = type === 'application/json' || type.endsWith('+json') ? res.body : res.text;
    expect([where, describeErrors(schemas.errors(media.schema, value))]).toEqual([where, '']);
    for (const name of Object.keys(response!.headers ?? {})) expect([where, name, res.headers.has(name)]).toEqual([where, name, true]);
    if (res.status >= 400) expect([where, res.body.code, Object.keys(media.examples)]).toEqual([where, res.body.code, expect.arrayContaining([res.body.code])]);
    answered.set(op.operationId, (answered.get(op.operationId) ?? new Set()).add(res.status));
    return res;
  }

  beforeAll(async () => {
    s = await startSmsStack({ clock, env: { THROTTLE_LIMIT: '100000' } });
    admin = (await s.t.createClient(['admin', 'audit:read'])).key;
    const served = await s.t.request('GET', '/docs-json');
    expect(served.status).toBe(200);
    doc = served.body;
    schemas = new DocumentSchemas(doc, { closed: true });
  });
  afterAll(async () => s?.close());

  it('serves at /docs-json exactly the committed packages/client/openapi.json', () => {
    expect(doc).toEqual(JSON.parse(readFileSync(join(ROOT, 'packages/client/openapi.json'), 'utf8')));
  });

  it('a full flow: start, get, resend, wrong code, right code, cancel, and the webhooks', async () => {
    const created = await call('POST', '/v1/admin/clients', {
      key: admin,
      body: { name: 'contract-bank', scopes: ['verifications:write', 'verifications:check'], webhookUrl: `${s.hooks.url}/hook` },
    });
    expect(created.status).toBe(201);
    const key = created.body.apiKey.key as string;
    const phone = freshPhone();

    const started = await call('POST', '/v1/verifications', {
      key,
      body: { phoneNumber: phone, purpose: 'transfer', transaction: { amount: '150000', currency: 'JPY', payee: 'ACME Ltd' }, reference: 'order-8812' },
      headers: { 'idempotency-key': 'contract-1' },
    });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    expect((await call('GET', '/v1/verifications/{id}', { key, params: { id } })).status).toBe(200);

    const tooSoon = await call('POST', '/v1/verifications/{id}/resend', { key, params: { id }, body: {} });
    expect([tooSoon.status, tooSoon.body.code]).toEqual([429, 'resend_too_soon']);
    clock.advance(31_000);
    expect((await call('POST', '/v1/verifications/{id}/resend', { key, params: { id }, body: {} })).status).toBe(200);
    const code = await codeSentTo(s.sms, phone, { nth: 2 });

    const transaction = { amount: '150000', currency: 'JPY', payee: 'ACME Ltd' };
    const wrong = await call('POST', '/v1/verifications/{id}/check', { key, params: { id }, body: { code: code === '000000' ? '111111' : '000000', transaction } });
    expect([wrong.status, wrong.body.valid]).toEqual([200, false]);
    const right = await call('POST', '/v1/verifications/{id}/check', { key, params: { id }, body: { code, transaction } });
    expect([right.status, right.body.status]).toEqual([200, 'approved']);

    const final = await call('POST', '/v1/verifications/{id}/cancel', { key, params: { id } });
    expect([final.status, final.body.code]).toEqual([409, 'verification_not_pending']);
    const other = await call('POST', '/v1/verifications', { key, body: { phoneNumber: freshPhone(), purpose: 'login' } });
    const canceled = await call('POST', '/v1/verifications/{id}/cancel', { key, params: { id: other.body.id } });
    expect([canceled.status, canceled.body.status]).toEqual([200, 'canceled']);

    // the result webhook matches the document's `webhooks` entry
    const hook = await waitFor(() => webhooksFor(s.hooks, id).find((h) => h.json.type === 'verification.approved'), { what: 'the approved webhook' });
    const webhook = doc.webhooks.verificationEvent.post;
    expect(describeErrors(schemas.errors(webhook.requestBody.content['application/json'].schema, hook.json))).toBe('');
    for (const p of webhook.parameters) expect([p.name, typeof hook.headers[p.name]]).toEqual([p.name, 'string']);

    // and the check is strict: an answer with a field its schema does not describe, or of another type, fails
    const answer = (await call('GET', '/v1/verifications/{id}', { key, params: { id } })).body;
    const narrower = structuredClone(doc);
    const view = narrower.components.schemas.VerificationView;
    delete view.properties.reference;
    view.required = view.required.filter((name: string) => name !== 'reference');
    expect(describeErrors(new DocumentSchemas(narrower, { closed: true }).errors({ $ref: '#/components/schemas/VerificationView' }, answer))).toMatch(/additionalProperty.*reference/);
    expect(schemas.errors({ $ref: '#/components/schemas/VerificationView' }, { ...answer, attemptsRemaining: 4.5 })).not.toEqual([]);
  });

  it('error answers: 400, 401, 403, 404, 409, 413, 415 and 429 are the documented problems', async () => {
    const { key } = await s.t.createClient(['verifications:write', 'verifications:check']);
    const expectCode = async (res: Promise<TestResponse>, status: number, code: string) => {
      const r = await res;
      expect([r.status, r.body?.code]).toEqual([status, code]);
    };
    const start = (body: unknown, opts: { key?: string; headers?: Record<string, string>; rawBody?: string } = { key }) => call('POST', '/v1/verifications', { ...opts, body });
    await expectCode(start({ phoneNumber: freshPhone(), purpose: 'Bad Purpose', extra: 1 }), 400, 'validation_failed');
    await expectCode(start({ phoneNumber: '+81123', purpose: 'login' }), 400, 'invalid_phone_number');
    await expectCode(start({ phoneNumber: '+81312345678', purpose: 'login' }), 400, 'unsupported_number_type');
    await expectCode(start({ phoneNumber: freshPhone(), purpose: 'login' }, { key, headers: { 'idempotency-key': 'x'.repeat(256) } }), 400, 'validation_failed');
    await expectCode(start({ phoneNumber: freshPhone(), purpose: 'login' }, {}), 401, 'unauthorized');
    await expectCode(start({ phoneNumber: freshPhone(), purpose: 'login' }, { key: admin }), 403, 'forbidden');
    await expectCode(call('GET', '/v1/verifications/{id}', { key, params: { id: 'vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' } }), 404, 'not_found');
    await expectCode(call('GET', '/v1/verifications/{id}', { key, params: { id: 'not an id' } }), 404, 'not_found');
    await expectCode(start({ phoneNumber: freshPhone(), purpose: 'login', reference: 'x'.repeat(20_000) }), 413, 'payload_too_large');
    await expectCode(call('POST', '/v1/verifications', { key, rawBody: '<phoneNumber>1</phoneNumber>', headers: { 'content-type': 'application/xml' } }), 415, 'unsupported_media_type');

    const once = { phoneNumber: freshPhone(), purpose: 'login' };
    expect((await start(once, { key, headers: { 'idempotency-key': 'contract-2' } })).status).toBe(201);
    expect((await start(once, { key, headers: { 'idempotency-key': 'contract-2' } })).status).toBe(201);
    await expectCode(start({ ...once, purpose: 'transfer' }, { key, headers: { 'idempotency-key': 'contract-2' } }), 409, 'idempotency_key_reused');

    const blocked = freshPhone();
    const entry = await call('POST', '/v1/admin/blocklist', { key: admin, body: { number: blocked, reason: 'contract test' } });
    expect(entry.status).toBe(201);
    const denied = await start({ phoneNumber: blocked, purpose: 'login' });
    expect([denied.status, denied.body.code, denied.body.reasons]).toEqual([403, 'risk_denied', ['blocklisted']]);
    await expectCode(call('POST', '/v1/admin/blocklist', { key: admin, body: { number: blocked, reason: 'again' } }), 409, 'conflict');
    expect((await call('DELETE', '/v1/admin/blocklist/{id}', { key: admin, params: { id: entry.body.id } })).status).toBe(200);
    await expectCode(call('DELETE', '/v1/admin/blocklist/{id}', { key: admin, params: { id: entry.body.id } }), 404, 'not_found');

    // a client's own request limit: 429 with Retry-After
    const limited = await s.t.createClient(['verifications:write']);
    const policy = await call('PUT', '/v1/admin/clients/{id}/policy', { key: admin, params: { id: limited.clientId }, body: { requestsPerMinute: 1 } });
    expect(policy.status).toBe(200);
    await call('GET', '/v1/verifications/{id}', { key: limited.key, params: { id: 'vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' } });
    await expectCode(call('GET', '/v1/verifications/{id}', { key: limited.key, params: { id: 'vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' } }), 429, 'rate_limited');
  });

  it('admin, audit and operations answers', async () => {
    const listed = await call('GET', '/v1/admin/clients', { key: admin });
    expect(listed.body.items.length).toBeGreaterThan(0);
    const clientId = listed.body.items.find((c: Json) => c.name === 'contract-bank').id as string;
    expect((await call('GET', '/v1/admin/clients/{id}', { key: admin, params: { id: clientId } })).status).toBe(200);
    const newKey = await call('POST', '/v1/admin/clients/{id}/keys', { key: admin, params: { id: clientId } });
    expect(newKey.status).toBe(201);
    expect((await call('DELETE', '/v1/admin/clients/{id}/keys/{keyId}', { key: admin, params: { id: clientId, keyId: newKey.body.id } })).status).toBe(200);
    expect((await call('POST', '/v1/admin/clients/{id}/webhook-secret:rotate', { key: admin, params: { id: clientId } })).status).toBe(200);
    expect((await call('POST', '/v1/admin/clients/{id}/webhook-endpoint:enable', { key: admin, params: { id: clientId } })).status).toBe(200);
    expect((await call('GET', '/v1/admin/clients/{id}/policy', { key: admin, params: { id: clientId } })).status).toBe(200);
    const policy = await call('PUT', '/v1/admin/clients/{id}/policy', { key: admin, params: { id: clientId }, body: { countries: ['JP'], numberTypes: { sms: ['mobile'] }, maxCheckAttempts: null } });
    expect(policy.body).toMatchObject({ countries: ['JP'], numberTypes: { sms: ['mobile'] } });
    expect((await call('GET', '/v1/admin/clients/{id}', { key: admin, params: { id: clientId } })).body.numberTypes).toEqual({ sms: ['mobile'] });
    await call('PUT', '/v1/admin/clients/{id}/policy', { key: admin, params: { id: clientId }, body: { countries: null, numberTypes: null } });
    expect((await call('PUT', '/v1/admin/clients/{id}/policy', { key: admin, params: { id: clientId }, body: { maxCheckAttempts: 99 } })).status).toBe(400);
    expect((await call('POST', '/v1/admin/clients', { key: admin, body: { name: 'contract-bank', scopes: ['verifications:write'] } })).status).toBe(409);

    expect((await call('GET', '/v1/admin/blocklist', { key: admin, query: '?limit=5' })).status).toBe(200);

    // Test numbers: added, refused (duplicate, bad number), listed, a start of one (its answer carries `test`), removed.
    const testPhone = freshPhone();
    const tn = await call('POST', '/v1/admin/clients/{id}/test-numbers', { key: admin, params: { id: clientId }, body: { phoneNumber: testPhone, code: '4242', deliveryStatus: 'delivered' } });
    expect(tn.status).toBe(201);
    expect((await call('POST', '/v1/admin/clients/{id}/test-numbers', { key: admin, params: { id: clientId }, body: { phoneNumber: testPhone } })).body.code).toBe('conflict');
    expect((await call('POST', '/v1/admin/clients/{id}/test-numbers', { key: admin, params: { id: clientId }, body: { phoneNumber: '+8190' } })).body.code).toBe('invalid_phone_number');
    expect((await call('GET', '/v1/admin/clients/{id}/test-numbers', { key: admin, params: { id: clientId } })).body.items).toHaveLength(1);
    const bankKey = (await call('POST', '/v1/admin/clients/{id}/keys', { key: admin, params: { id: clientId } })).body.key as string;
    const testStart = await call('POST', '/v1/verifications', { key: bankKey, body: { phoneNumber: testPhone, purpose: 'login' } });
    expect([testStart.status, testStart.body.test]).toEqual([201, true]);
    expect((await call('POST', '/v1/verifications/{id}/check', { key: bankKey, params: { id: testStart.body.id }, body: { code: '4242' } })).body.status).toBe('approved');
    expect((await call('DELETE', '/v1/admin/clients/{id}/test-numbers/{testNumberId}', { key: admin, params: { id: clientId, testNumberId: tn.body.id } })).status).toBe(200);
    expect((await call('DELETE', '/v1/admin/clients/{id}/test-numbers/{testNumberId}', { key: admin, params: { id: clientId, testNumberId: tn.body.id } })).status).toBe(404);

    // Risk: a screening, a number's voice-contract record, and the pumping suspensions (one made here as the rules
    // would make it, so that its release is answered too).
    const expectCode = async (res: Promise<TestResponse>, status: number, code: string) => expect(await res).toMatchObject({ status, body: { code } });
    const risk = await s.t.createClient(['risk:read']);
    const screened = await call('POST', '/v1/risk/screenings', { key: risk.key, body: { phoneNumber: freshPhone(), purpose: 'transfer' } });
    expect([screened.status, screened.body.decision]).toEqual([200, 'allow']);
    await expectCode(call('POST', '/v1/risk/screenings', { key: risk.key, body: { phoneNumber: '+81120123456' } }), 400, 'unsupported_number_type');
    expect((await call('GET', '/v1/admin/voice-contracts/{e164}', { key: admin, params: { e164: '+819012345678' } })).status).toBe(200);
    await expectCode(call('GET', '/v1/admin/voice-contracts/{e164}', { key: admin, params: { e164: '+8190' } }), 400, 'invalid_phone_number');
    await s.db.query(
      `INSERT INTO risk_suspensions (id, kind, unit, mode, reason, figures, created_at, expires_at)
       VALUES ('sus_01JD3Y8N6W2Q5V7X9Z1B3C5D7F', 'prefix', '81901234', 'enforce', 'prefix_suspended', '{"window":"1h","unverified":11,"threshold":10}', now(), now() + interval '12 hours')`,
    );
    expect((await call('GET', '/v1/admin/suspensions', { key: admin, query: '?active=true' })).body.items).toHaveLength(1);
    expect((await call('DELETE', '/v1/admin/suspensions/{id}', { key: admin, params: { id: 'sus_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' } })).status).toBe(200);
    await expectCode(call('DELETE', '/v1/admin/suspensions/{id}', { key: admin, params: { id: 'sus_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' } }), 409, 'conflict');
    const events = await call('GET', '/v1/admin/audit-events', { key: admin, query: '?limit=50' });
    expect(events.body.items.length).toBeGreaterThan(5);
    expect((await call('GET', '/v1/admin/audit-events', { key: admin, query: '?limit=0' })).status).toBe(400);
    expect((await call('GET', '/v1/admin/audit-events/integrity', { key: admin })).status).toBe(200);
    for (const format of ['ndjson', 'csv']) {
      const exported = await call('GET', '/v1/admin/audit-events/export', { key: admin, query: `?format=${format}` });
      expect([format, exported.status, exported.text.length > 0]).toEqual([format, 200, true]);
    }
    expect((await call('GET', '/health/live')).status).toBe(200);
    expect((await call('GET', '/health/ready')).status).toBe(200);
    expect((await call('GET', '/metrics')).status).toBe(200);
  });

  it('answered every operation of the document with success at least once', () => {
    const operations = Object.values<Json>(doc.paths).flatMap((item) => Object.values<Json>(item).map((op) => op.operationId as string));
    const unanswered = operations.filter((id) => ![...(answered.get(id) ?? [])].some((status) => status < 300));
    expect(unanswered).toEqual([]);
    expect(operations.length).toBeGreaterThanOrEqual(23);
  });
});
