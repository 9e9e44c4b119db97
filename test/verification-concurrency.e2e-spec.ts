import { Client } from 'pg';
import { createTestDatabase, TestDatabase } from './support/database';
import type { FakeServer } from './support/fake-http';
import type { TestApp } from './support/app';
import { freshPhone } from './support/phones';
import { createWebhookCaller, messagesTo, startVerification, webhooksFor } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { sleep, waitFor } from './support/wait';
import { RISK_SCREENER, RiskScreener } from '../src/risk/risk.port';

describe('concurrency across two service instances on one database', () => {
  let stack: SmsStack;
  let db: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let sms: FakeServer;
  let hooks: FakeServer;
  let key: string;

  let own: TestDatabase | undefined;

  beforeAll(async () => {
    // The deadlock test needs the check's backend to find the cycle. PostgreSQL looks once, deadlock_timeout after a wait
    // began: the service's connections get 3 s here (at the default 1 s, a busy machine could leave the test's session
    // too late to close the cycle, and that session, not the check, would be failed).
    own = await createTestDatabase();
    const [{ name }] = await own.query<{ name: string }>('SELECT current_database() AS name');
    await own.query(`ALTER DATABASE ${name} SET deadlock_timeout = '3s'`);
    stack = await startSmsStack({ instances: 2, db: own, env: { DATABASE_POOL_SIZE: '20', THROTTLE_LIMIT: '10000', OTP_RESEND_COOLDOWN_SECONDS: '0' } });
    ({ db, sms, hooks, apps: [a, b] } = stack);
    ({ key } = await createWebhookCaller(a, hooks));
  });
  afterAll(async () => {
    await stack?.close();
    await own?.drop();
  });

  it('50 simultaneous checks with the right code: exactly one approved, one webhook', async () => {
    const { id, code } = await startVerification(a, sms, key);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).request('POST', `/v1/verifications/${id}/check`, { key, body: { code } })),
    );
    const approved = results.filter((r) => r.status === 200 && r.body.status === 'approved' && r.body.valid === true);
    expect(approved).toHaveLength(1);
    const rest = results.filter((r) => r !== approved[0]);
    expect(rest.every((r) => r.status === 409 && r.body.verificationStatus === 'approved')).toBe(true);
    // the first webhook (sent after the commit), then a while for any second one
    await waitFor(() => webhooksFor(hooks, id).length > 0, { what: 'the approved webhook' });
    await sleep(1000);
    const webhooks = webhooksFor(hooks, id);
    expect(webhooks.map((h) => h.json.type)).toEqual(['verification.approved']);
    const [row] = await db.query<{ status: string; attempts: number }>('SELECT status, attempts FROM verifications WHERE id = $1', [id]);
    expect(row).toEqual({ status: 'approved', attempts: 0 });
  });

  it('50 simultaneous wrong codes: counted exactly up to the limit, then locked', async () => {
    const { id, code } = await startVerification(a, sms, key);
    const wrong = code === '000000' ? '999999' : '000000';
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).request('POST', `/v1/verifications/${id}/check`, { key, body: { code: wrong } })),
    );
    const counted = results.filter((r) => r.status === 200);
    expect(counted).toHaveLength(5);
    expect(counted.every((r) => r.body.valid === false)).toBe(true);
    expect(counted.map((r) => r.body.attemptsRemaining).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(counted.filter((r) => r.body.status === 'locked')).toHaveLength(1);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.verificationStatus === 'locked')).toBe(true);
    const [row] = await db.query<{ status: string; attempts: number }>('SELECT status, attempts FROM verifications WHERE id = $1', [id]);
    expect(row).toEqual({ status: 'locked', attempts: 5 });
    await waitFor(() => webhooksFor(hooks, id).length > 0, { what: 'the locked webhook' });
    await sleep(1000);
    expect(webhooksFor(hooks, id).map((h) => h.json.type)).toEqual(['verification.locked']);
  });

  it('a resend meeting a check or a new start of the same number: all answered, no deadlock (each takes the number before the row)', async () => {
    // The resend on instance a pauses in its send-limit screening, after the locks it has taken so far, until the
    // other request is waiting on a lock. Taking the row first (as it did), it then waited for the number the other
    // held while the other waited for the row: PostgreSQL failed one of them after deadlock_timeout.
    const risk = a.app.get<RiskScreener>(RISK_SCREENER);
    const screenResend = risk.screenResend.bind(risk);
    for (const other of ['check', 'start'] as const) {
      const { id, code, phone } = await startVerification(a, sms, key);
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let paused!: () => void;
      const pausing = new Promise<void>((resolve) => (paused = resolve));
      const spy = jest.spyOn(risk, 'screenResend').mockImplementation(async (...args) => {
        paused();
        await released;
        return screenResend(...args);
      });
      try {
        const resend = a.request('POST', `/v1/verifications/${id}/resend`, { key, body: {} });
        await pausing;
        const second =
          other === 'check'
            ? b.request('POST', `/v1/verifications/${id}/check`, { key, body: { code } })
            : b.request('POST', '/v1/verifications', { key, body: { phoneNumber: phone, purpose: 'login' } });
        // a lock waited for in this spec's database (other spec files may run at the same time)
        const waiting = `SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND locktype IN ('advisory', 'transactionid', 'tuple') AND pid IN (SELECT pid FROM pg_stat_activity WHERE datname = current_database())`;
        await waitFor(async () => Number((await db.query<{ n: string }>(waiting))[0].n) > 0, { what: 'the other request waiting on a lock', timeoutMs: 5000 });
        release();
        const [r, s2] = await Promise.all([resend, second]);
        expect([other, r.status, r.body.type]).toEqual([other, 200, undefined]);
        if (other === 'check') {
          // after the resend's commit: the old code no longer works, and counts as one wrong attempt
          expect([s2.status, s2.body.valid, s2.body.attemptsRemaining]).toEqual([200, false, 4]);
        } else {
          expect([s2.status, s2.body.type]).toEqual([201, undefined]);
          const [old] = await db.query<{ status: string }>('SELECT status FROM verifications WHERE id = $1', [id]);
          expect(old.status).toBe('canceled');
        }
      } finally {
        release();
        spy.mockRestore();
      }
    }
  });

  it('a resend that will be refused answers at once, without waiting for the number another request holds', async () => {
    const { id, phone } = await startVerification(a, sms, key);
    expect((await a.request('POST', `/v1/verifications/${id}/cancel`, { key })).status).toBe(200);
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7))', [`phone:${phone}`]); // as a start or a check of the number holds it
      const resend = a.request('POST', `/v1/verifications/${id}/resend`, { key, body: {} });
      const answer = await Promise.race([resend, sleep(3000).then(() => 'still waiting' as const)]);
      expect(answer === 'still waiting' ? answer : [answer.status, answer.body.code, answer.body.verificationStatus]).toEqual([409, 'verification_not_pending', 'canceled']);
      await other.query('COMMIT');
      await resend;
    } finally {
      await other.end();
    }
  });

  it('a check PostgreSQL rolls back for a deadlock answers 503 service_unavailable with Retry-After: 1 and changes nothing; sent again, it counts', async () => {
    // A session of the test's own makes the cycle with a check: it holds the verification's row, the check takes the
    // number's lock and waits for the row, then the session asks for the number's lock. With its own
    // deadlock_timeout at 10 s, the check's backend (3 s, this file's database) is the one PostgreSQL fails (40P01).
    const { id, code, phone } = await startVerification(a, sms, key);
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query(`SET deadlock_timeout = '10s'`);
      await other.query('BEGIN');
      await other.query('SELECT 1 FROM verifications WHERE id = $1 FOR UPDATE', [id]);
      const check = a.request('POST', `/v1/verifications/${id}/check`, { key, body: { code } });
      const waiting = `SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND locktype IN ('advisory', 'transactionid', 'tuple') AND pid IN (SELECT pid FROM pg_stat_activity WHERE datname = current_database())`;
      await waitFor(async () => Number((await db.query<{ n: string }>(waiting))[0].n) > 0, { what: 'the check waiting for the row', timeoutMs: 5000 });
      await other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7))', [`phone:${phone}`]);
      const r = await check;
      expect([r.status, r.body.code, r.headers.get('retry-after')]).toEqual([503, 'service_unavailable', '1']);
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(r.body.detail).toMatch(/concurrent requests .* rolled back; nothing of it was kept/);
      await other.query('ROLLBACK');
    } finally {
      await other.end();
    }
    const [row] = await db.query<{ status: string; attempts: number }>('SELECT status, attempts FROM verifications WHERE id = $1', [id]);
    expect(row).toEqual({ status: 'pending', attempts: 0 });
    expect(await db.query(`SELECT 1 FROM audit_events WHERE verification_id = $1 AND type IN ('verification.approved', 'verification.check_failed')`, [id])).toEqual([]);
    const again = await a.request('POST', `/v1/verifications/${id}/check`, { key, body: { code } });
    expect([again.status, again.body.status, again.body.valid]).toEqual([200, 'approved', true]);
    // a warning naming the conflict, not an unhandled error
    expect(a.logs.join('')).toMatch(/Transaction rolled back by a conflict with concurrent ones on POST/);
    expect(a.logs.filter((l) => l.includes('"level":50'))).toEqual([]);
  });

  it('20 simultaneous starts with one Idempotency-Key: one verification, one message, the same answer', async () => {
    const phone = freshPhone();
    const body = { phoneNumber: phone, purpose: 'signup', reference: 'order-1' };
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).request('POST', '/v1/verifications', { key, body, headers: { 'idempotency-key': 'idem-20-at-once' } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(new Set(results.map((r) => r.text)).size).toBe(1);
    expect(await db.query('SELECT id FROM verifications WHERE phone_e164 = $1', [phone])).toHaveLength(1);
    await waitFor(() => messagesTo(sms, phone).length > 0, { what: 'the code sent' });
    await sleep(1000);
    expect(messagesTo(sms, phone)).toHaveLength(1);

    const reused = await a.request('POST', '/v1/verifications', { key, body: { ...body, purpose: 'login' }, headers: { 'idempotency-key': 'idem-20-at-once' } });
    expect(reused.status).toBe(409);
    expect(reused.body.code).toBe('idempotency_key_reused');
  });

  it('a new Idempotency-Key costs one statement on idempotency_keys (its claim), a repeat two (the claim, then its first answer)', async () => {
    // every statement any pool of this process sends, by its text (TypeORM runs them through pg's Client.query)
    const texts: string[] = [];
    const original = Client.prototype.query;
    const spy = jest.spyOn(Client.prototype, 'query').mockImplementation(function (this: Client, ...args: unknown[]) {
      const q = args[0] as string | { text?: string } | undefined;
      texts.push(typeof q === 'string' ? q : (q?.text ?? ''));
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as never);
    try {
      const body = { phoneNumber: freshPhone(), purpose: 'login' };
      // statements of their own on the keys: the answer's UPDATE joins the start's combined write (WITH w0 AS …)
      const onKeys = () => texts.filter((t) => /\bidempotency_keys\b/.test(t) && !/^\s*WITH w\d+ AS/.test(t)).length;
      const first = await a.request('POST', '/v1/verifications', { key, body, headers: { 'idempotency-key': 'idem-one-statement' } });
      expect(first.status).toBe(201);
      expect(onKeys()).toBe(1);
      texts.length = 0;
      const again = await b.request('POST', '/v1/verifications', { key, body, headers: { 'idempotency-key': 'idem-one-statement' } });
      expect(again.status).toBe(201);
      expect(again.body.id).toBe(first.body.id);
      expect(onKeys()).toBe(2);
    } finally {
      spy.mockRestore();
    }
  });

  it('an Idempotency-Key older than 24 h is claimed afresh (once, by 20 simultaneous starts with another body); a live one still refuses another body', async () => {
    const first = { phoneNumber: freshPhone(), purpose: 'signup' };
    const started = await a.request('POST', '/v1/verifications', { key, body: first, headers: { 'idempotency-key': 'idem-expired' } });
    expect(started.status).toBe(201);
    const live = await b.request('POST', '/v1/verifications', { key, body: { ...first, purpose: 'login' }, headers: { 'idempotency-key': 'idem-expired' } });
    expect(live.status).toBe(409);
    expect(live.body.code).toBe('idempotency_key_reused');

    await db.query(`UPDATE idempotency_keys SET created_at = created_at - interval '25 hours' WHERE key = 'idem-expired'`);
    const phone = freshPhone();
    const body = { phoneNumber: phone, purpose: 'login' };
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).request('POST', '/v1/verifications', { key, body, headers: { 'idempotency-key': 'idem-expired' } })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(results[0].body.id).not.toBe(started.body.id);
    expect(new Set(results.map((r) => r.text)).size).toBe(1);
    expect(await db.query('SELECT id FROM verifications WHERE phone_e164 = $1', [phone])).toHaveLength(1);
    const [row] = await db.query<{ response_status: number; id: string }>(`SELECT response_status, response_body->>'id' AS id FROM idempotency_keys WHERE key = 'idem-expired'`);
    expect(row).toEqual({ response_status: 201, id: results[0].body.id });
  });
});
