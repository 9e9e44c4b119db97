import { sanitizeAuditData } from '../src/audit/audit-data';
import { looksLikeCredential } from '../src/common/input-text';
import type { TestApp, TestResponse } from './support/app';
import type { TestDatabase } from './support/database';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { rawRequest, RawResponse } from './support/raw-http';
import { postVerification } from './support/scenario';
import { Stack, startStack } from './support/stack';
import { sleep, waitFor } from './support/wait';

/** Issue 9, items 12-18: bad input is a 4xx problem+json that changes nothing, never a 500. */
describe('bad input is refused with a 4xx problem+json and changes nothing', () => {
  let stack: Stack;
  let db: TestDatabase;
  let t: TestApp;
  let key: string;
  let adminKey: string;
  let victim: { clientId: string; keyId: string };

  const TX = { amount: '150000', currency: 'JPY', payee: 'ACME Ltd' };
  const API_KEY_SHAPED = 'otp_abcdefghijkl_' + 'abcdefghij'.repeat(4);
  const WHSEC_SHAPED = 'whsec_' + 'c2VjcmV0c2VjcmV0c2VjcmV0';

  /** What a refused request must leave as it was. */
  async function state(): Promise<string> {
    const [row] = await db.query(`
      SELECT (SELECT count(*) FROM audit_events) AS audit_events,
             (SELECT count(*) FROM idempotency_keys) AS idempotency_keys,
             (SELECT count(*) FROM outbox) AS outbox,
             (SELECT count(*) FROM phone_sends) AS phone_sends,
             (SELECT count(*) FROM api_clients) AS clients,
             (SELECT count(*) FROM api_keys) AS api_keys,
             (SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL) AS revoked_keys,
             (SELECT md5(coalesce(string_agg(id || status || attempts || sends || updated_at::text, ',' ORDER BY id), '')) FROM verifications) AS verifications`);
    return JSON.stringify(row);
  }

  /** The state once the work of earlier requests (messages sent after commit, their audit events) is done. */
  async function settledState(): Promise<string> {
    let last = '';
    return waitFor(
      async () => {
        const [busy] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'sending')`);
        const now = await state();
        const stable = busy.n === '0' && now === last;
        last = now;
        if (!stable) await sleep(50);
        return stable && now;
      },
      { what: 'the outbox to be idle and the state to stop changing' },
    );
  }

  /** Runs `send`, expects a 400 validation_failed naming `field`, and that nothing changed. */
  async function expectRefused(send: () => Promise<TestResponse>, field?: string, status = 400, code = 'validation_failed'): Promise<TestResponse> {
    const before = await settledState();
    const res = await send();
    expectProblem(res, status, code);
    if (field) expect(res.body.errors?.map((e: { field: string }) => e.field)).toContain(field);
    expect(await settledState()).toBe(before);
    return res;
  }

  const start = (body: Record<string, unknown>, headers?: Record<string, string>) =>
    t.request('POST', '/v1/verifications', { key, body: { phoneNumber: freshPhone(), purpose: 'login', ...body }, headers });

  beforeAll(async () => {
    stack = await startStack({ env: { THROTTLE_LIMIT: '100000' } });
    ({ db, t } = stack);
    ({ key } = await t.createClient());
    ({ key: adminKey } = await t.createClient());
    const other = await t.createClient(['verifications:write']);
    victim = { clientId: other.clientId, keyId: other.keyId };
  });
  afterAll(async () => stack?.close());

  describe('12. transaction given as an array', () => {
    it.each([[[]], [[TX]]])('start with transaction %j: 400 naming transaction', async (transaction) => {
      await expectRefused(() => start({ transaction }), 'transaction');
    });

    it.each([[[]], [[TX]]])('check with transaction %j: 400 naming transaction, no attempt spent', async (transaction) => {
      const { id } = await postVerification(t, key, { transaction: TX });
      await expectRefused(() => t.request('POST', `/v1/verifications/${id}/check`, { key, body: { code: '123456', transaction } }), 'transaction');
      expect((await t.request('GET', `/v1/verifications/${id}`, { key })).body.attemptsRemaining).toBe(5);
    });
  });

  describe('13. a NUL byte (or another impossible id) in a path id', () => {
    const routes: Array<[string, (id: string) => string, 'user' | 'admin']> = [
      ['GET', (id) => `/v1/verifications/${id}`, 'user'],
      ['POST', (id) => `/v1/verifications/${id}/resend`, 'user'],
      ['POST', (id) => `/v1/verifications/${id}/cancel`, 'user'],
      ['POST', (id) => `/v1/verifications/${id}/check`, 'user'],
      ['GET', (id) => `/v1/admin/clients/${id}`, 'admin'],
      ['POST', (id) => `/v1/admin/clients/${id}/keys`, 'admin'],
      ['DELETE', (id) => `/v1/admin/clients/${id}/keys/key_x`, 'admin'],
    ];
    const ids = ['vrf_%00', '%00', 'cli_%00abc', 'x%01y', 'vrf_%C3%A9'];

    it.each(routes)('%s %s answers 404 not_found', async (method, path, who) => {
      const { id: real } = await postVerification(t, key);
      for (const id of ids) {
        const body = path('x').endsWith('/check') ? { code: '123456' } : undefined;
        const res = await expectRefused(() => t.request(method, path(id), { key: who === 'admin' ? adminKey : key, body }), undefined, 404, 'not_found');
        expect(res.headers.get('x-request-id')).toBeTruthy();
      }
      // the real one still works, and was not touched
      expect((await t.request('GET', `/v1/verifications/${real}`, { key })).body.status).toBe('pending');
    });

    it('a NUL in the key id of a revoke answers 404 and revokes nothing', async () => {
      await expectRefused(
        () => t.request('DELETE', `/v1/admin/clients/${victim.clientId}/keys/${victim.keyId}%00`, { key: adminKey }),
        undefined,
        404,
        'not_found',
      );
    });
  });

  describe('14. deeply nested JSON', () => {
    it('1,500 levels deep: 400 validation_failed, nothing created', async () => {
      const deep = '['.repeat(1500) + ']'.repeat(1500);
      const res = await expectRefused(() =>
        t.request('POST', '/v1/verifications', { key, rawBody: `{"phoneNumber":"${freshPhone()}","purpose":"login","transaction":${deep}}` }),
      );
      expect(res.body.detail).toMatch(/nested|deep/i);
      const objects = '{"a":'.repeat(1500) + '1' + '}'.repeat(1500);
      await expectRefused(() => t.request('POST', `/v1/admin/clients`, { key: adminKey, rawBody: objects }));
    });

    it('33 levels are refused, 32 (and brackets inside strings) are fine', async () => {
      const nest = (n: number) => '['.repeat(n - 1) + ']'.repeat(n - 1);
      // the body itself is level 1
      const ok = await t.request('POST', '/v1/verifications', { key, rawBody: `{"phoneNumber":"${freshPhone()}","purpose":"login","reference":"[[[{{{","x":${nest(32)}}` });
      expectProblem(ok, 400, 'validation_failed');
      expect(ok.body.errors.map((e: { field: string }) => e.field)).toEqual(['x']);
      const deep = await expectRefused(() => t.request('POST', '/v1/verifications', { key, rawBody: `{"phoneNumber":"${freshPhone()}","purpose":"login","x":${nest(33)}}` }));
      expect(deep.body.detail).toMatch(/nested more than 32 levels/);
    });

    it('malformed and empty JSON keep their answers; 16 KiB still answers 413', async () => {
      expectProblem(await t.request('POST', '/v1/verifications', { key, rawBody: '{"phoneNumber": ' }), 400, 'validation_failed');
      expectProblem(await t.request('POST', '/v1/verifications', { key, rawBody: '' }), 400, 'validation_failed');
      expectProblem(
        await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: freshPhone(), purpose: 'login', reference: 'x'.repeat(17 * 1024) } }),
        413,
        'payload_too_large',
      );
      expectProblem(await t.request('POST', '/v1/verifications', { key, rawBody: '{"__proto__": {"x": 1}}' }), 400, 'validation_failed');
    });
  });

  describe('15. NUL and lone surrogates in strings', () => {
    const bad = ['order\u0000-1', 'order-\ud800', '\udc00x', 'a\ud83d'];
    it.each(bad.map((v) => [JSON.stringify(v), v]))('reference %s: 400 naming reference', async (_, value) => {
      await expectRefused(() => start({ reference: value }), 'reference');
    });
    it.each(bad.map((v) => [JSON.stringify(v), v]))('payee %s: 400 naming transaction.payee', async (_, value) => {
      await expectRefused(() => start({ transaction: { ...TX, payee: value } }), 'transaction.payee');
    });
    it('in any other string field and in keys, on every route', async () => {
      await expectRefused(() => start({ phoneNumber: '+8190\u00001234567' }), 'phoneNumber');
      await expectRefused(() => start({ callbackUrl: 'https://example.com/\ud800' }), 'callbackUrl');
      await expectRefused(() => t.request('POST', '/v1/admin/clients', { key: adminKey, body: { name: 'a\u0000b', scopes: ['admin'] } }), 'name');
      await expectRefused(() => start({ ['x\u0000']: 1 }), 'x\\u0000');
      const { id } = await postVerification(t, key, { transaction: TX });
      await expectRefused(() => t.request('POST', `/v1/verifications/${id}/check`, { key, body: { code: '123456', transaction: { ...TX, payee: 'AC\u0000ME' } } }), 'transaction.payee');
    });
    it('in a form-encoded body and in query strings too', async () => {
      const form = (body: string) =>
        t.request('POST', '/v1/verifications', { key, rawBody: body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      await expectRefused(() => form(`phoneNumber=${encodeURIComponent(freshPhone())}&purpose=login&reference=a%00b`), 'reference');
      // (percent-decoding never yields a lone surrogate: invalid UTF-8 stays as it was sent or becomes U+FFFD)
      const notUtf8 = await form(`phoneNumber=${encodeURIComponent(freshPhone())}&purpose=login&reference=a%ED%A0%80b`);
      expect(notUtf8.status).toBe(201);
      expect(notUtf8.body.reference).not.toMatch(/[\ud800-\udfff]/);
      await expectRefused(() => t.request('GET', '/v1/admin/audit-events?type=a.b%00', { key: adminKey }), 'type');
    });

    it('a valid surrogate pair (emoji) is fine', async () => {
      const res = await start({ reference: 'order-\ud83d\ude00', transaction: { ...TX, payee: 'ACME \ud83d\ude00' } });
      expect(res.status).toBe(201);
      expect(res.body.reference).toBe('order-\ud83d\ude00');
    });
  });

  describe('16. values shaped like our own secrets', () => {
    it('the check refuses everything the audit sanitizer refuses', () => {
      for (const v of [API_KEY_SHAPED, WHSEC_SHAPED, `see ${API_KEY_SHAPED}!`, 'x' + WHSEC_SHAPED + 'y']) {
        expect(looksLikeCredential(v)).toBe(true);
        expect(() => sanitizeAuditData({ v })).toThrow(/looks like/);
      }
      for (const v of ['order-8812', 'otp_short_key', 'whsec_short']) {
        expect(looksLikeCredential(v)).toBe(false);
        expect(() => sanitizeAuditData({ v })).not.toThrow();
      }
    });

    const expectCredential = async (send: () => Promise<TestResponse>, field: string) => {
      const res = await expectRefused(send, field);
      expect(res.body.errors.find((e: { field: string }) => e.field === field).message).toMatch(/credential/);
      expect(res.text).not.toContain('abcdefghijabcdefghij');
      expect(res.text).not.toContain('c2VjcmV0c2VjcmV0c2VjcmV0');
    };

    it.each([API_KEY_SHAPED, WHSEC_SHAPED])('in reference, purpose, payee, callbackUrl (%s)', async (secret) => {
      await expectCredential(() => start({ reference: `order ${secret}` }), 'reference');
      await expectCredential(() => start({ transaction: { ...TX, payee: secret } }), 'transaction.payee');
      await expectCredential(() => start({ callbackUrl: `https://bank.example/${secret}` }), 'callbackUrl');
      if (secret === API_KEY_SHAPED) await expectCredential(() => start({ purpose: secret }), 'purpose');
    });

    it.each([API_KEY_SHAPED, WHSEC_SHAPED])('in the Idempotency-Key header (%s)', async (secret) => {
      await expectCredential(() => start({}, { 'idempotency-key': `k-${secret}` }), 'Idempotency-Key');
    });

    it('in the audit type filter, listing and export', async () => {
      const type = `x.${API_KEY_SHAPED}`; // a well-formed event type of at most 64 characters
      await expectCredential(() => t.request('GET', `/v1/admin/audit-events?type=${type}`, { key: adminKey }), 'type');
      await expectCredential(() => t.request('GET', `/v1/admin/audit-events/export?type=${type}`, { key: adminKey }), 'type');
    });

    it('in a client name', async () => {
      await expectCredential(() => t.request('POST', '/v1/admin/clients', { key: adminKey, body: { name: API_KEY_SHAPED, scopes: ['admin'] } }), 'name');
    });
  });

  describe('17. errors raised by Fastify and Node before routing are problem+json with a request id', () => {
    const expectRawProblem = (res: RawResponse, status: number, code: string) => {
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status, code, type: expect.stringContaining('/problems/'), title: expect.any(String), detail: expect.any(String) });
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.text));
    };

    it('414 for a path parameter over the router limit', async () => {
      const res = await t.request('GET', `/v1/verifications/vrf_${'A'.repeat(300)}`, { key, headers: { 'x-request-id': 'req-414' } });
      expectProblem(res, 414, 'uri_too_long');
      expect(res.headers.get('x-request-id')).toBe('req-414');
    });

    it('400 for a malformed percent-encoding in the path', async () => {
      const res = await t.request('GET', '/v1/verifications/vrf_%E0%A4%A', { key, headers: { 'x-request-id': 'req-bad-url' } });
      expectProblem(res, 400, 'bad_request');
      expect(res.headers.get('x-request-id')).toBe('req-bad-url');
    });

    it('400 for a malformed request line (raw socket)', async () => {
      expectRawProblem(await rawRequest(t.url, 'GET /v1/verifications HTTP/1.1 extra\r\nHost: x\r\n\r\n'), 400, 'bad_request');
      expectRawProblem(await rawRequest(t.url, 'NOT A REQUEST\r\n\r\n'), 400, 'bad_request');
      expectRawProblem(await rawRequest(t.url, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'), 400, 'bad_request');
    });

    it('431 for headers over the limit, and for a URL longer than the header limit (raw socket)', async () => {
      expectRawProblem(await rawRequest(t.url, `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 431, 'headers_too_large');
      expectRawProblem(await rawRequest(t.url, `GET /v1/verifications?x=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, 'headers_too_large');
    });

    it('the service keeps answering afterwards', async () => {
      expect((await t.request('GET', '/health/live')).status).toBe(200);
    });
  });

  describe('18. payee with nothing visible, currency outside ISO 4217', () => {
    it.each(['   ', '\u200b', ' \u200b\u200c\u200d\ufeff ', '\u3000', '\u00a0\u2060'])('payee %j: 400 naming transaction.payee', async (payee) => {
      await expectRefused(() => start({ transaction: { ...TX, payee } }), 'transaction.payee');
    });

    it('control characters (a line break that would forge a line of the SMS) and bidi overrides in a payee: 400', async () => {
      await expectRefused(() => start({ transaction: { ...TX, payee: 'ACME\nYour code is 000000' } }), 'transaction.payee');
      await expectRefused(() => start({ transaction: { ...TX, payee: 'ACME \u202eLtd' } }), 'transaction.payee');
    });

    it.each(['XXQ', 'ABC', 'XXX'])('currency %s: 400 naming transaction.currency', async (currency) => {
      await expectRefused(() => start({ transaction: { ...TX, currency } }), 'transaction.currency');
    });

    it('the same on check, without spending an attempt', async () => {
      const { id } = await postVerification(t, key, { transaction: TX });
      await expectRefused(() => t.request('POST', `/v1/verifications/${id}/check`, { key, body: { code: '123456', transaction: { ...TX, currency: 'XXQ' } } }), 'transaction.currency');
      await expectRefused(() => t.request('POST', `/v1/verifications/${id}/check`, { key, body: { code: '123456', transaction: { ...TX, payee: '\u200b' } } }), 'transaction.payee');
      expect((await t.request('GET', `/v1/verifications/${id}`, { key })).body.attemptsRemaining).toBe(5);
    });

    it('real currencies (any case) and payees with inner spaces are fine', async () => {
      for (const currency of ['JPY', 'usd', 'EUR']) {
        const res = await start({ transaction: { ...TX, currency, payee: ' ACME  Ltd ' } });
        expect(res.status).toBe(201);
      }
    });
  });
});
