import { createTestDatabase, TestDatabase } from './support/database';
import type { FakeServer } from './support/fake-http';
import { startTestApp, TestApp, TestResponse } from './support/app';
import { freshPhone } from './support/phones';
import { codeOf, codeSentTo } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { waitFor } from './support/wait';

describe('security of verifications', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  describe('with an HTTP SMS provider', () => {
    let stack: SmsStack;
    let t: TestApp;
    let sms: FakeServer;
    let hooks: FakeServer;
    let mine: { key: string };
    let theirs: { key: string };

    beforeAll(async () => {
      stack = await startSmsStack({ db, env: { LOG_LEVEL: 'trace' } });
      ({ t, sms, hooks } = stack);
      mine = await t.createClient(['verifications:write', 'verifications:check']);
      theirs = await t.createClient(['verifications:write', 'verifications:check']);
    });
    afterAll(async () => stack?.close());

    it("another client's verification answers 404, exactly like a missing one", async () => {
      const res = await t.request('POST', '/v1/verifications', { key: mine.key, body: { phoneNumber: freshPhone(), purpose: 'login' } });
      const id = res.body.id;
      const missing = await t.request('GET', '/v1/verifications/vrf_01XXXXXXXXXXXXXXXXXXXXXXXX', { key: theirs.key });
      for (const [method, path, body] of [
        ['GET', `/v1/verifications/${id}`, undefined],
        ['POST', `/v1/verifications/${id}/check`, { code: '123456' }],
        ['POST', `/v1/verifications/${id}/resend`, undefined],
        ['POST', `/v1/verifications/${id}/cancel`, undefined],
      ] as const) {
        const r = await t.request(method, path, { key: theirs.key, body });
        expect(r.status).toBe(404);
        expect(r.body.code).toBe('not_found');
        expect(r.body.title).toBe(missing.body.title);
      }
      // and nothing changed
      const [row] = await db.query<{ status: string; attempts: number; sends: number }>('SELECT status, attempts, sends FROM verifications WHERE id = $1', [id]);
      expect(row).toEqual({ status: 'pending', attempts: 0, sends: 1 });
    });

    it('a failing query logs its cause without its bind values', async () => {
      // The statement that fails (the start's INSERT, refused by a constraint) carries the phone number and the
      // reference among its bind values, and PostgreSQL's detail of a refused row would show the row's values.
      await db.query(`ALTER TABLE verifications ADD CONSTRAINT test_no_marker CHECK (reference IS DISTINCT FROM 'marker-7f3a9c')`);
      try {
        const phone = freshPhone();
        const res = await t.request('POST', '/v1/verifications', {
          key: mine.key,
          body: { phoneNumber: phone, purpose: 'login', reference: 'marker-7f3a9c' },
          headers: { 'x-request-id': 'req-bind-values' },
        });
        expect(res.status).toBe(500);
        expect(res.text).not.toMatch(/reference|marker|INSERT/);
        const line = t.logs.find((l) => l.includes('req-bind-values') && l.includes('"level":50'));
        expect(line).toBeDefined();
        expect(line).toContain('violates check constraint \\"test_no_marker\\"');
        expect(line).not.toContain('marker-7f3a9c');
        expect(line).not.toContain(phone);
      } finally {
        await db.query('ALTER TABLE verifications DROP CONSTRAINT test_no_marker');
      }
    });

    it('codes never appear in logs, stored rows, errors or API answers', async () => {
      const answers: TestResponse[] = [];
      const codes: string[] = [];
      const phone = freshPhone();
      const keep = (r: TestResponse) => (answers.push(r), r);
      const start = keep(await t.request('POST', '/v1/verifications', { key: mine.key, body: { phoneNumber: phone, purpose: 'transfer', codeLength: 8, transaction: { amount: '150000', currency: 'JPY', payee: 'ACME' }, callbackUrl: `${hooks.url}/h` } }));
      const waitCode = (nth: number) => codeSentTo(sms, phone, { nth, length: 8 });
      codes.push(await waitCode(1));
      // the stored rows hold no code while the verification is pending
      const pendingDump = JSON.stringify(await db.query('SELECT * FROM verifications WHERE id = $1', [start.body.id])) + JSON.stringify(await db.query('SELECT * FROM outbox'));
      expect(pendingDump).not.toContain(codes[0]);
      const [stored] = await db.query<{ code_hmac: Buffer }>('SELECT code_hmac FROM verifications WHERE id = $1', [start.body.id]);
      expect(stored.code_hmac).toHaveLength(32);

      keep(await t.request('POST', `/v1/verifications/${start.body.id}/check`, { key: mine.key, body: { code: codes[0] } })); // no transaction: wrong
      keep(await t.request('POST', `/v1/verifications/${start.body.id}/check`, { key: mine.key, body: { code: codes[0], transaction: { amount: '150001', currency: 'JPY', payee: 'ACME' } } }));
      keep(await t.request('POST', `/v1/verifications/${start.body.id}/check`, { key: mine.key, body: { code: codes[0].slice(0, 6) } }));
      await db.query(`UPDATE verifications SET resend_available_at = now() - interval '1 second' WHERE id = $1`, [start.body.id]);
      keep(await t.request('POST', `/v1/verifications/${start.body.id}/resend`, { key: mine.key }));
      codes.push(await waitCode(2));
      const ok = keep(await t.request('POST', `/v1/verifications/${start.body.id}/check`, { key: mine.key, body: { code: codes[1], transaction: { amount: '150000.00', currency: 'jpy', payee: 'ACME' } } }));
      expect(ok.body).toMatchObject({ status: 'approved', valid: true, attemptsRemaining: 3 });
      keep(await t.request('POST', `/v1/verifications/${start.body.id}/check`, { key: mine.key, body: { code: codes[1] } }));
      keep(await t.request('GET', `/v1/verifications/${start.body.id}`, { key: mine.key }));
      await hooks.waitFor(1);
      await waitFor(async () => (await db.query(`SELECT 1 FROM outbox WHERE verification_id = $1 AND status <> 'done'`, [start.body.id])).length === 0, {
        what: `every outbox row of ${start.body.id} to be done`,
      });

      const everything = [
        ...answers.map((a) => a.text),
        ...hooks.received.map((h) => h.body),
        t.logs.join(''),
        JSON.stringify(await db.query('SELECT * FROM verifications')),
        JSON.stringify(await db.query('SELECT * FROM outbox')),
        JSON.stringify(await db.query('SELECT * FROM outbox_attempts')),
        JSON.stringify(await db.query('SELECT * FROM idempotency_keys')),
        JSON.stringify(await db.query('SELECT * FROM audit_events')),
      ].join('\n');
      expect(t.logs.length).toBeGreaterThan(10);
      for (const code of codes) expect(everything).not.toContain(code);
      // every step wrote its audit event
      const types = (await db.query<{ type: string }>('SELECT type FROM audit_events WHERE verification_id = $1', [start.body.id])).map((e) => e.type);
      expect(new Set(types)).toEqual(
        new Set(['verification.created', 'message.queued', 'message.sent', 'verification.check_failed', 'verification.resent', 'verification.approved', 'webhook.delivered']),
      );
      expect(types.filter((x) => x === 'verification.check_failed')).toHaveLength(2);
      // the transaction binding was enforced: two wrong checks before the right one
      expect(answers.filter((a) => a.status === 200 && a.body.valid === false)).toHaveLength(2);
    });
  });

  describe('the development inbox', () => {
    it('with the console provider outside production: lists the messages with their codes, and they check', async () => {
      const t = await startTestApp(db.url, { NODE_ENV: 'development' });
      try {
        const { key } = await t.createClient(['verifications:write', 'verifications:check']);
        const phone = freshPhone();
        const start = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phone, purpose: 'login', locale: 'en' } });
        expect(start.status).toBe(201);
        const inbox = await waitFor(
          async () => {
            const res = await t.request('GET', `/v1/dev/messages?phoneNumber=${encodeURIComponent(phone)}`, { key });
            return res.body.items.length > 0 && res;
          },
          { what: `a message to ${phone} in the development inbox` },
        );
        expect(inbox.status).toBe(200);
        expect(inbox.body.items[0]).toMatchObject({ to: phone, channel: 'sms' });
        const code = codeOf(inbox.body.items[0].body, 6);
        expect(inbox.body.items[0].body).toContain('Never share this code');
        const ok = await t.request('POST', `/v1/verifications/${start.body.id}/check`, { key, body: { code } });
        expect(ok.body.status).toBe('approved');
        // the console provider logs that it sent, to a masked number, without the text
        const logs = t.logs.join('');
        expect(logs).toContain('+81*******' + phone.slice(-4));
        expect(logs).not.toContain(code);
      } finally {
        await t.close();
      }
    });

    it.each([
      [{ NODE_ENV: 'production', OTP_HMAC_KEYS: 'k1:' + 'cd'.repeat(32), AUDIT_PHONE_HASH_KEY: 'ef'.repeat(32) }],
      [{ NODE_ENV: 'development', SMS_PROVIDER: 'http', SMS_HTTP_URL: 'http://127.0.0.1:9/sms' }],
    ])('does not exist in any other configuration: %j', async (env) => {
      const t = await startTestApp(db.url, env);
      try {
        const { key } = await t.createClient(['admin', 'verifications:write']);
        const res = await t.request('GET', '/v1/dev/messages', { key });
        expect(res.status).toBe(404);
        const docs = await t.request('GET', '/docs-json');
        expect(Object.keys(docs.body.paths)).not.toContain('/v1/dev/messages');
      } finally {
        await t.close();
      }
    });
  });
});
