import { Client } from 'pg';
import { ExpirySweeper } from '../src/verification/expiry-sweeper';
import { VerificationsRepository } from '../src/issuance/verifications.repository';
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import type { TestDatabase } from './support/database';
import { FakeServer, whileAnswering } from './support/fake-http';
import { FakeClock } from './support/fake-clock';
import type { TestApp } from './support/app';
import { type StartedVerification, codeSentTo, createWebhookCaller, messagesTo, postVerification, startVerification, waitForMessage, webhooksFor } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { holdNextCall, sleep, waitFor } from './support/wait';

describe('time: expiry, resend cooldowns, sweeper, webhook retries (injected clock)', () => {
  let stack: SmsStack;
  let db: TestDatabase;
  let t: TestApp;
  let sms: FakeServer;
  let hooks: FakeServer;
  let key: string;
  const clock = new FakeClock();

  beforeAll(async () => {
    // Timers effectively off: the test drives the dispatcher and the sweeper itself.
    stack = await startSmsStack({ env: { OUTBOX_POLL_INTERVAL_MS: '3600000', EXPIRY_SWEEP_INTERVAL_MS: '3600000' }, clock });
    ({ db, t, sms, hooks } = stack);
    ({ key } = await createWebhookCaller(t, hooks));
  });
  afterAll(async () => stack?.close());

  const start = (body: Record<string, unknown> = {}) => startVerification(t, sms, key, body);
  const lastCode = (phone: string, nth: number) => codeSentTo(sms, phone, { nth });
  /** Waits until no outbox row is mid-send, so the dispatcher has recorded every outcome. */
  const settled = () =>
    waitFor(async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox WHERE status = 'sending'`))[0].n === 0, {
      what: 'the outbox to settle (no row sending)',
    });
  const get = async (id: string) => (await t.request('GET', `/v1/verifications/${id}`, { key })).body;
  const check = (id: string, code: string) => t.request('POST', `/v1/verifications/${id}/check`, { key, body: { code } });

  it('expires at the second: pending 1 ms before expiresAt, expired at it; a check then is 409 expired', async () => {
    const v = await start({ ttlSeconds: 60 });
    expect(v.res.body.expiresAt).toBe(new Date(clock.now().getTime() + 60000).toISOString());
    clock.advance(59999);
    expect((await get(v.id)).status).toBe('pending');
    clock.advance(1);
    expect((await get(v.id)).status).toBe('expired');
    const res = await check(v.id, v.code);
    expect(res.status).toBe(409);
    expect(res.body.verificationStatus).toBe('expired');
    expect((await db.query<{ status: string }>('SELECT status FROM verifications WHERE id = $1', [v.id]))[0].status).toBe('expired');
  });

  it('a check that waited for the number\'s lock past the expiry is judged at its end: 409 expired, not approved', async () => {
    const v = await start({ ttlSeconds: 60 });
    clock.advance(59_000);
    const psql = new Client({ connectionString: db.url });
    await psql.connect();
    try {
      // another check of the number holds its lock (as a slow one would) while this one waits for it
      await psql.query('BEGIN');
      await psql.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, [`phone:${v.phone}`]);
      const answer = check(v.id, v.code);
      await waitFor(
        async () =>
          // read outside psql's transaction, which would keep its first read of pg_stat_activity (without a connection opened since)
          (await db.query(`SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND l.locktype = 'advisory' AND a.datname = current_database() AND a.application_name = 'otp-verify'`)).length,
        { what: 'the check waiting for the number' },
      );
      clock.advance(2_000); // past expiresAt while it waits
      await psql.query('COMMIT');
      const res = await answer;
      expect([res.status, res.body.verificationStatus]).toEqual([409, 'expired']);
      expect((await db.query<{ status: string; approved_at: Date | null }>('SELECT status, approved_at FROM verifications WHERE id = $1', [v.id]))[0]).toEqual({ status: 'expired', approved_at: null });
    } finally {
      await psql.query('ROLLBACK').catch(() => undefined);
      await psql.end();
    }
  });

  it('resend: cooldown 30 s then 60 s, a fresh code replaces the old one, attempts are not reset, sends are capped', async () => {
    const v = await start({ ttlSeconds: 1800 });
    const wrong = v.code === '000000' ? '111111' : '000000';
    expect((await check(v.id, wrong)).body.attemptsRemaining).toBe(4);

    const early = await t.request('POST', `/v1/verifications/${v.id}/resend`, { key });
    expect(early.status).toBe(429);
    expect(early.body.code).toBe('resend_too_soon');
    expect(early.headers.get('retry-after')).toBe('30');

    clock.advance(30000);
    const first = await t.request('POST', `/v1/verifications/${v.id}/resend`, { key });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'pending', sendsRemaining: 3, attemptsRemaining: 4 });
    expect(first.body.resendAvailableAt).toBe(new Date(clock.now().getTime() + 60000).toISOString());
    const second = await lastCode(v.phone, 2);

    clock.advance(59000);
    const tooSoon = await t.request('POST', `/v1/verifications/${v.id}/resend`, { key });
    expect(tooSoon.status).toBe(429);
    expect(tooSoon.headers.get('retry-after')).toBe('1');
    clock.advance(1000);
    expect((await t.request('POST', `/v1/verifications/${v.id}/resend`, { key })).status).toBe(200);
    const third = await lastCode(v.phone, 3);
    clock.advance(120000);
    expect((await t.request('POST', `/v1/verifications/${v.id}/resend`, { key })).status).toBe(200);
    clock.advance(240000);
    const last = await t.request('POST', `/v1/verifications/${v.id}/resend`, { key });
    expect(last.status).toBe(200);
    expect(last.body.sendsRemaining).toBe(0);
    clock.advance(480000);
    const capped = await t.request('POST', `/v1/verifications/${v.id}/resend`, { key });
    expect(capped.status).toBe(429);
    expect(capped.body.code).toBe('max_sends_reached');

    // an old code no longer works (costs an attempt), the newest does
    const fifth = await lastCode(v.phone, 5);
    if (second !== fifth) expect((await check(v.id, second)).body.valid).toBe(false);
    if (third !== fifth) expect((await check(v.id, third)).body.valid).toBe(false);
    const ok = await check(v.id, fifth);
    expect(ok.body).toMatchObject({ status: 'approved', valid: true });
  });

  it('the sweeper marks expired verifications and sends verification.expired webhooks', async () => {
    const one = await start({ ttlSeconds: 60 });
    const two = await start({ ttlSeconds: 120 });
    clock.advance(61000);
    await t.app.get(ExpirySweeper).sweep();
    const rows = await db.query<{ id: string; status: string }>('SELECT id, status FROM verifications WHERE id = ANY($1) ORDER BY id', [[one.id, two.id]]);
    expect(rows.find((r) => r.id === one.id)?.status).toBe('expired');
    expect(rows.find((r) => r.id === two.id)?.status).toBe('pending');
    await waitFor(() => webhooksFor(hooks, one.id).length > 0, { what: `a webhook about ${one.id}` });
    await settled();
    const sent = webhooksFor(hooks, one.id);
    expect(sent.map((h) => h.json.type)).toEqual(['verification.expired']);
    expect(sent[0].json.data.status).toBe('expired');
  });

  it('one sweep runs batch after batch while they come back full, up to its cap (not one batch per interval)', async () => {
    const due: StartedVerification[] = [];
    for (let i = 0; i < 25; i++) due.push(await start({ ttlSeconds: 60 }));
    const later = await start({ ttlSeconds: 1800 });
    clock.advance(61000);
    const statusOf = async () =>
      new Map((await db.query<{ id: string; status: string }>('SELECT id, status FROM verifications WHERE id = ANY($1)', [[...due, later].map((v) => v.id)])).map((r) => [r.id, r.status]));
    const sweeper = t.app.get(ExpirySweeper);
    // capped: three batches of two, however many are due
    expect(await sweeper.sweep(2, 3)).toBe(6);
    // batches of ten until one comes back short: all 25 (and any other due ones), not ten
    expect(await sweeper.sweep(10, 100)).toBeGreaterThanOrEqual(19);
    const after = await statusOf();
    expect(due.map((v) => after.get(v.id))).toEqual(due.map(() => 'expired'));
    expect(after.get(later.id)).toBe('pending');
    expect(await sweeper.sweep(10, 100)).toBe(0);
    // their verification.expired webhooks delivered before the next test counts webhooks (past the client's concurrent
    // deliveries, a webhook is put off by a second: the poller sends it once the clock has moved)
    const dispatcher = t.app.get(OutboxDispatcher);
    await waitFor(
      async () => {
        clock.advance(1000);
        await dispatcher.pollOnce();
        return due.every((v) => webhooksFor(hooks, v.id).length > 0);
      },
      { what: 'the expired webhooks of the 25' },
    );
    await settled();
  });

  it('a sweep asked for while one is under way expires what is due at the call, not only what that one saw', async () => {
    const v = await start({ ttlSeconds: 60 });
    const sweeper = t.app.get(ExpirySweeper);
    // the first sweep reads what is due now (not v), then holds while the clock moves past v's expiry
    const hold = holdNextCall(t.app.get(VerificationsRepository), 'expireDue');
    try {
      const first = sweeper.sweep();
      await hold.reached;
      clock.advance(61000);
      const second = sweeper.sweep();
      hold.release();
      expect(await first).toBe(0);
      // without the one more sweep, the second call would be the first's answer, and v would still be pending
      expect(await second).toBe(1);
      expect((await get(v.id)).status).toBe('expired');
    } finally {
      hold.restore();
    }
    await waitFor(() => webhooksFor(hooks, v.id).length > 0, { what: `the expired webhook of ${v.id}` });
    await settled();
  });

  it('webhooks: retried with backoff on 500, every try recorded, stop at the first 2xx', async () => {
    const failures = new Set<number>();
    const failTwice: FakeServer['respond'] = (_req, index) => {
      if (failures.size < 2 && !failures.has(index)) {
        failures.add(index);
        return { status: 500 };
      }
      return { status: 204 };
    };
    await whileAnswering(hooks, failTwice, async () => {
      const v = await start();
      const before = hooks.received.length;
      expect((await check(v.id, v.code)).body.status).toBe('approved');
      await hooks.waitFor(before + 1);
      await settled();
      const dispatcher = t.app.get(OutboxDispatcher);
      // not due yet: nothing is sent
      await dispatcher.pollOnce();
      expect(hooks.received.length).toBe(before + 1);
      clock.advance(10000);
      await dispatcher.pollOnce();
      expect(hooks.received.length).toBe(before + 2);
      clock.advance(60000);
      await dispatcher.pollOnce();
      expect(hooks.received.length).toBe(before + 3);
      clock.advance(24 * 3600 * 1000);
      await dispatcher.pollOnce();
      expect(hooks.received.length).toBe(before + 3);
      const attempts = await db.query<{ attempt: number; ok: boolean; status_code: number }>(
        `SELECT a.attempt, a.ok, a.status_code FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id
          WHERE o.verification_id = $1 AND o.kind = 'webhook' ORDER BY a.attempt`,
        [v.id],
      );
      expect(attempts).toEqual([
        { attempt: 1, ok: false, status_code: 500 },
        { attempt: 2, ok: false, status_code: 500 },
        { attempt: 3, ok: true, status_code: 204 },
      ]);
      const [row] = await db.query<{ status: string; payload: Buffer | null }>(`SELECT status, payload FROM outbox WHERE verification_id = $1 AND kind = 'webhook'`, [v.id]);
      expect(row).toEqual({ status: 'done', payload: null });
    });
  });

  it('a message no provider accepts is retried with backoff, then the verification fails and the caller is told', async () => {
    await whileAnswering(sms, () => ({ status: 503 }), async () => {
      const { id, phone } = await postVerification(t, key);
      const tries = () => messagesTo(sms, phone).length;
      await waitFor(() => tries() >= 1, { what: `the first try to send to ${phone}` });
      await settled();
      expect(tries()).toBe(1);
      const dispatcher = t.app.get(OutboxDispatcher);
      // The waits are jittered (cockatiel's exponential backoff with decorrelated jitter, 2 s to 60 s): each retry
      // happens exactly when its row falls due, not a millisecond before.
      const waits: number[] = [];
      for (let i = 0; i < 3; i++) {
        const [row] = await db.query<{ next_attempt_at: Date; updated_at: Date }>(`SELECT next_attempt_at, updated_at FROM outbox WHERE verification_id = $1 AND kind = 'sms'`, [id]);
        const wait = row.next_attempt_at.getTime() - clock.now().getTime();
        waits.push(wait);
        expect(wait).toBeGreaterThan(0);
        expect(wait).toBeLessThanOrEqual(60000);
        clock.advance(wait - 1);
        await dispatcher.pollOnce();
        const before = tries();
        expect(before).toBe(i + 1);
        clock.advance(1);
        await dispatcher.pollOnce();
        await settled();
        expect(tries()).toBe(before + 1);
      }
      expect(new Set(waits).size).toBeGreaterThan(1);
      expect(tries()).toBe(4); // MESSAGE_MAX_ATTEMPTS
      const got = await get(id);
      expect(got.status).toBe('failed');
      expect(got.delivery).toMatchObject({ status: 'failed', attempts: 4 });
      await waitFor(() => webhooksFor(hooks, id).length > 0, { what: `a webhook about ${id}` });
      expect(webhooksFor(hooks, id).map((h) => h.json.type)).toEqual(['verification.failed']);
      const events = (await db.query<{ type: string }>('SELECT type FROM audit_events WHERE verification_id = $1', [id])).map((e) => e.type);
      expect(events).toEqual(expect.arrayContaining(['message.failed', 'verification.failed']));
      expect((await db.query<{ payload: Buffer | null }>(`SELECT payload FROM outbox WHERE verification_id = $1 AND kind = 'sms'`, [id]))[0].payload).toBeNull();
    });
  });

  it('a late outcome from an instance whose lease ran out does not overwrite the row another instance finished', async () => {
    await whileAnswering(sms, () => ({ status: 500 }), async () => {
      const { id, phone } = await postVerification(t, key);
      await settled();
      const [row] = await db.query<any>(`SELECT id, kind, verification_id, client_id, payload, attempts, max_attempts, segments, status FROM outbox WHERE verification_id = $1`, [id]);
      expect(row).toMatchObject({ status: 'pending', attempts: 1 });
      // As if attempt 1 were still in flight on a stalled instance: its try is not recorded yet, and
      // another instance took the row over after the lease ran out (attempt 2) and delivered it.
      await db.query(`DELETE FROM outbox_attempts WHERE outbox_id = $1`, [row.id]);
      await db.query(`UPDATE outbox SET status = 'done', attempts = 2, payload = NULL, delivery_status = 'sent' WHERE id = $1`, [row.id]);
      // the first instance, still holding its attempt-1 copy, now records a retryable failure
      const dispatcher = t.app.get(OutboxDispatcher);
      dispatcher.dispatchSoon({ ...row, attempts: 1 });
      await waitForMessage(sms, phone, { nth: messagesTo(sms, phone).length + 1 });
      await waitFor(async () => (await db.query(`SELECT 1 FROM outbox_attempts WHERE outbox_id = $1`, [row.id])).length >= 1, {
        what: 'the late try to be recorded in outbox_attempts',
      });
      await sleep(50);
      const [after] = await db.query<{ status: string; attempts: number }>(`SELECT status, attempts FROM outbox WHERE id = $1`, [row.id]);
      expect(after).toEqual({ status: 'done', attempts: 2 });
    });
  });

  it('webhooks: a receiver that always fails gets 12 tries over more than two and a half days, then the row is failed', async () => {
    await whileAnswering(hooks, () => ({ status: 503 }), async () => {
      const v = await start();
      const startedAt = clock.now().getTime();
      expect((await check(v.id, v.code)).body.status).toBe('approved');
      const mine = () => webhooksFor(hooks, v.id);
      await waitFor(() => mine().length >= 1, { what: `a webhook about ${v.id}` });
      await settled();
      const dispatcher = t.app.get(OutboxDispatcher);
      for (let i = 0; i < 24; i++) {
        clock.advance(4 * 3600 * 1000);
        await dispatcher.pollOnce();
      }
      expect(mine()).toHaveLength(12);
      const [row] = await db.query<{ status: string; attempts: number; payload: Buffer | null }>(
        `SELECT status, attempts, payload FROM outbox WHERE verification_id = $1 AND kind = 'webhook'`,
        [v.id],
      );
      expect(row).toEqual({ status: 'failed', attempts: 12, payload: null });
      const times = await db.query<{ attempted_at: Date }>(
        `SELECT a.attempted_at FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id WHERE o.verification_id = $1 AND o.kind = 'webhook' ORDER BY a.attempt`,
        [v.id],
      );
      expect(times).toHaveLength(12);
      expect(times[5].attempted_at.getTime() - startedAt).toBeGreaterThanOrEqual(3600 * 1000);
      expect(times[11].attempted_at.getTime() - startedAt).toBeGreaterThanOrEqual(2.5 * 86400 * 1000);
    });
  });
});
