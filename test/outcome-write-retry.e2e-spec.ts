// A send's outcome that cannot be written for a moment (the database stalls: a lock, a statement timeout) is written
// when the database answers again, not left for the lease to run out: a row left `sending` is taken over and sent
// again, a second SMS with the same code, billed twice. A real PostgreSQL; the fake provider over real HTTP.
import { Client } from 'pg';
import { Transactions } from '../src/database/transactions';
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import type { TestApp } from './support/app';
import { FakeClock } from './support/fake-clock';
import { freshPhone } from './support/phones';
import { messagesTo } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { sleep, waitFor } from './support/wait';

describe('the outcome of a send, written through a short database stall', () => {
  let s: SmsStack;
  let t: TestApp;
  let clock: FakeClock;

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    // statements give up after 2 s
    s = await startSmsStack({ env: { THROTTLE_LIMIT: '100000', OUTBOX_POLL_INTERVAL_MS: '3600000', DATABASE_STATEMENT_TIMEOUT_MS: '2000' }, clock });
    t = s.t;
  });
  afterAll(async () => {
    await s?.close();
  });
  afterEach(() => jest.restoreAllMocks());

  it('is written once the database answers again: the row is done, and no takeover sends the message twice', async () => {
    const { key } = await t.createClient(['verifications:write', 'verifications:check']);
    const phone = freshPhone();
    const psql = new Client({ connectionString: s.db.url });
    await psql.connect();
    try {
      // The tries' table is locked: the outcome's statement (its INSERT there) waits past the statement timeout.
      await psql.query('BEGIN; LOCK TABLE outbox_attempts IN SHARE MODE');
      const mark = t.logs.length;
      const started = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phone, purpose: 'login' } });
      expect(started.status).toBe(201);
      await waitFor(() => messagesTo(s.sms, phone).length === 1, { what: 'the message at the provider' });
      // (the dispatcher's own line: its retry now, the failure it logged before)
      await waitFor(() => /writing a send's outcome failed; trying again|outbox dispatch failed/.test(t.logs.slice(mark).join('')), { what: 'the outcome failing to be written' });
      await psql.query('COMMIT');

      await waitFor(
        async () => (await s.db.query<{ status: string }>(`SELECT status FROM outbox WHERE verification_id = $1 AND kind = 'sms'`, [started.body.id]))[0].status === 'done',
        { what: 'the row done' },
      );
      const tries = await s.db.query<{ ok: boolean }>(`SELECT a.ok FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id WHERE o.verification_id = $1`, [started.body.id]);
      expect(tries).toEqual([{ ok: true }]);

      // Its lease would have run out by now: a poll finds nothing to take over.
      clock.advance(120_000);
      await t.app.get(OutboxDispatcher).pollOnce();
      expect(messagesTo(s.sms, phone)).toHaveLength(1);
    } finally {
      await psql.query('ROLLBACK').catch(() => undefined);
      await psql.end();
    }
  });

  it('committed, its answer lost: the repeat finds the try recorded and takes it as written, with one try and one event', async () => {
    const { key } = await t.createClient(['verifications:write', 'verifications:check']);
    const phone = freshPhone();
    // The dispatcher's outcome statement commits, then its connection is lost before the answer (as the driver says it)
    const transactions = t.app.get(Transactions);
    const real = transactions.statement.bind(transactions);
    let lost = 0;
    jest.spyOn(transactions, 'statement').mockImplementation(async (build) => {
      await real(build);
      if (lost === 0 && /markDone/.test(build.toString())) {
        lost++;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: undefined });
      }
    });
    const mark = t.logs.length;
    const started = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phone, purpose: 'login' } });
    expect(started.status).toBe(201);
    await waitFor(() => lost === 1 && /writing a send's outcome failed; trying again/.test(t.logs.slice(mark).join('')), { what: 'the answer lost, and the write repeated' });
    await sleep(1500); // the repeat (within about 0.7 s) has run
    expect(t.logs.slice(mark).join('')).not.toMatch(/outbox dispatch failed/);
    const [row] = await s.db.query<{ status: string }>(`SELECT status FROM outbox WHERE verification_id = $1 AND kind = 'sms'`, [started.body.id]);
    expect(row.status).toBe('done');
    const tries = await s.db.query(`SELECT 1 FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id WHERE o.verification_id = $1`, [started.body.id]);
    expect(tries).toHaveLength(1);
    const sent = await s.db.query(`SELECT 1 FROM audit_events WHERE verification_id = $1 AND type = 'message.sent'`, [started.body.id]);
    expect(sent).toHaveLength(1);
  });

  // (last: it stops this stack's dispatcher)
  it('is not repeated once the instance shuts down: three writes would not fit in its shutdown timeout; the row is left sending, for a takeover after its lease', async () => {
    const { key } = await t.createClient(['verifications:write', 'verifications:check']);
    const phone = freshPhone();
    // Every write of the outcome fails as a lost connection (a fault worth a repeat); the first fails only once the
    // instance has begun to shut down.
    const transactions = t.app.get(Transactions);
    const real = transactions.statement.bind(transactions);
    let writes = 0;
    let fail!: () => void;
    const shuttingDown = new Promise<void>((resolve) => (fail = resolve));
    jest.spyOn(transactions, 'statement').mockImplementation(async (build) => {
      if (!/markDone/.test(build.toString())) return real(build);
      writes++;
      if (writes === 1) await shuttingDown;
      throw Object.assign(new Error('Connection terminated unexpectedly'), { code: undefined });
    });
    const mark = t.logs.length;
    let started;
    try {
      started = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phone, purpose: 'login' } });
      expect(started.status).toBe(201);
      await waitFor(() => writes === 1, { what: 'the outcome being written' });
    } catch (err) {
      fail(); // (or the stack's close would wait on the held write)
      throw err;
    }
    const drained = t.app.get(OutboxDispatcher).drain();
    fail();
    await drained; // (it waits for the send in flight, its repeats included)
    expect(writes).toBe(1);
    expect(t.logs.slice(mark).join('')).toMatch(/the instance is shutting down/);
    const [row] = await s.db.query<{ status: string }>(`SELECT status FROM outbox WHERE verification_id = $1 AND kind = 'sms'`, [started.body.id]);
    expect(row.status).toBe('sending');
  });
});
