// The event bus and after-commit work against the real database: subscribers run inside the publisher's
// transaction, after-commit work waits for COMMIT and never runs after a rollback.
import { AuditService } from '../src/audit/audit.service';
import { EventBus } from '../src/common/events';
import { Tx } from '../src/common/tx';
import { isDatabaseUnavailable } from '../src/common/problem.filter';
import { Transactions } from '../src/database/transactions';
import { PhoneVelocityRepository } from '../src/risk/phone-velocity.repository';
import { startTestApp, TestApp } from './support/app';
import { createTestDatabase, TestDatabase } from './support/database';
import { waitFor } from './support/wait';

describe('events and after-commit work (real PostgreSQL)', () => {
  let db: TestDatabase;
  let t: TestApp;
  let bus: EventBus;
  let transactions: Transactions;
  let audit: AuditService;
  let clientId: string;
  const started = (verificationId: string) => ({ verificationId, clientId, phoneE164: '+819012345678', channel: 'sms' as const, purpose: 'login', status: 'pending' as const, at: new Date() });
  const eventsOf = (verificationId: string) => db.query<{ type: string }>(`SELECT type FROM audit_events WHERE verification_id = $1 ORDER BY seq`, [verificationId]);

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await startTestApp(db.url);
    bus = t.app.get(EventBus);
    transactions = t.app.get(Transactions);
    audit = t.app.get(AuditService);
    clientId = (await t.createClient()).clientId;
    // A subscriber that writes (an audit event) in the publisher's transaction, and one that fails on demand.
    bus.subscribe('verification.started', 'spec.writer', async (tx, e) => {
      await audit.record(tx, { type: 'spec.subscriber_wrote', actor: { type: 'system' }, clientId: e.clientId, verificationId: e.verificationId });
    });
    bus.subscribe('verification.started', 'spec.failer', (_tx, e) => {
      if (e.verificationId.startsWith('vrf_FAIL')) throw new Error('subscriber refused');
    });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it("a subscriber's write commits with its publisher", async () => {
    await transactions.run(async (tx) => {
      await audit.record(tx, { type: 'spec.publisher_wrote', actor: { type: 'system' }, clientId, verificationId: 'vrf_COMMIT' });
      await bus.publish(tx, 'verification.started', started('vrf_COMMIT'));
    });
    expect((await eventsOf('vrf_COMMIT')).map((e) => e.type)).toEqual(['spec.publisher_wrote', 'spec.subscriber_wrote']);
  });

  it("a subscriber's write rolls back with its publisher", async () => {
    const err = await transactions
      .run(async (tx) => {
        await bus.publish(tx, 'verification.started', started('vrf_ROLLBACK'));
        throw new Error('publisher fails after publishing');
      })
      .catch((e) => e);
    expect(err.message).toBe('publisher fails after publishing');
    expect(await eventsOf('vrf_ROLLBACK')).toEqual([]);
  });

  it("a throwing subscriber fails the publisher's transaction, with a log naming the event and the subscriber", async () => {
    const err = await transactions
      .run(async (tx) => {
        await audit.record(tx, { type: 'spec.publisher_wrote', actor: { type: 'system' }, clientId, verificationId: 'vrf_FAIL1' });
        await bus.publish(tx, 'verification.started', started('vrf_FAIL1'));
      })
      .catch((e) => e);
    expect(err.message).toBe('subscriber refused');
    expect(await eventsOf('vrf_FAIL1')).toEqual([]); // the publisher's own write and the first subscriber's are gone
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.subscriber === 'spec.failer');
    expect(line).toMatchObject({ level: 50, event: 'verification.started', msg: expect.stringContaining("subscriber spec.failer of verification.started failed: the publisher's transaction is rolled back") });
  });

  it('after-commit work runs once the transaction committed, and never after a rollback', async () => {
    const ran: string[] = [];
    await transactions.run(async (tx) => {
      tx.afterCommit(() => ran.push('committed'));
      await tx.query('SELECT 1');
      expect(ran).toEqual([]); // not before the commit
    });
    expect(ran).toEqual(['committed']);

    await transactions
      .run(async (tx) => {
        tx.afterCommit(() => ran.push('rolled back'));
        throw new Error('rollback');
      })
      .catch(() => undefined);
    // a failing COMMIT (deferred write refused by the database) also runs nothing
    // a deferred write the database refuses when it is flushed before COMMIT rolls back too
    const refused = await transactions
      .run(async (tx) => {
        tx.afterCommit(() => ran.push('flush refused'));
        tx.defer(() => `INSERT INTO audit_chain (seq, prev_hash, hash) VALUES (-1, NULL, NULL)`);
      })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(Error);
    expect(ran).toEqual(['committed']);
  });

  it('a statement that failed inside, its error caught there, fails the transaction: nothing saved, no after-commit work, never success', async () => {
    const ran: string[] = [];
    const err = await transactions
      .run(async (tx) => {
        await audit.record(tx, { type: 'spec.publisher_wrote', actor: { type: 'system' }, clientId, verificationId: 'vrf_CAUGHT' });
        tx.afterCommit(() => ran.push('committed'));
        await tx.query('SELECT 1 / 0').catch(() => undefined); // PostgreSQL aborts the transaction all the same
        return 'done';
      })
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/rolled back, not committed \(COMMIT answered ROLLBACK\)/);
    expect(ran).toEqual([]);
    expect(await eventsOf('vrf_CAUGHT')).toEqual([]);
    // the connection goes back to the pool out of any transaction: the next one commits
    await transactions.run(async (tx) => {
      await audit.record(tx, { type: 'spec.publisher_wrote', actor: { type: 'system' }, clientId, verificationId: 'vrf_CAUGHT' });
    });
    expect(await eventsOf('vrf_CAUGHT')).toHaveLength(1);
  });

  it('a throwing or rejecting after-commit hook is logged and does not stop the others; the Tx is closed after commit', async () => {
    const ran: string[] = [];
    let kept: Tx | undefined;
    await transactions.run(async (tx) => {
      kept = tx;
      tx.afterCommit(() => {
        throw new Error('hook threw');
      });
      tx.afterCommit(async () => {
        throw new Error('hook rejected');
      });
      tx.afterCommit(() => ran.push('third'));
    });
    expect(ran).toEqual(['third']);
    await waitFor(() => t.logs.filter((l) => l.includes('after-commit work failed')).length >= 2, { what: 'both hook failures to be logged' });
    expect(() => kept!.defer(() => 'SELECT 1')).toThrow('defer() on a transaction that has already committed');
    expect(() => kept!.afterCommit(() => undefined)).toThrow(/already committed/);
  });

  it('statement(): deferred writes as one autocommit statement; its after-commit work runs only when it succeeded; no queries', async () => {
    const ran: string[] = [];
    await transactions.statement((tx) => {
      audit.defer(tx, [{ type: 'spec.statement', actor: { type: 'system' }, clientId, verificationId: 'vrf_STMT' }]);
      tx.afterCommit(() => ran.push('ok'));
    });
    expect(ran).toEqual(['ok']);
    expect((await eventsOf('vrf_STMT')).map((e) => e.type)).toEqual(['spec.statement']);
    const failed = await transactions
      .statement((tx) => {
        audit.defer(tx, [{ type: 'spec.statement', actor: { type: 'system' }, clientId, verificationId: 'vrf_STMT2' }]);
        tx.defer(() => `INSERT INTO audit_chain (seq, prev_hash, hash) VALUES (-1, NULL, NULL)`);
        tx.afterCommit(() => ran.push('failed'));
      })
      .catch((e) => e);
    expect(failed).toBeInstanceOf(Error);
    expect(ran).toEqual(['ok']);
    expect(await eventsOf('vrf_STMT2')).toEqual([]); // one statement: the audit insert went with the refused one
    await expect(transactions.statement((tx) => void tx.query('SELECT 1'))).rejects.toThrow('query() is not allowed in a single statement');
  });

  it('a transaction that failed leaves no connection in an aborted transaction; one whose connection died is not pooled again, and the process lives on', async () => {
    // Transactions run on node-postgres directly: their own BEGIN, COMMIT and ROLLBACK, and their own care of a connection.
    const inThisDb = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'otp-verify'`;
    const refused = await transactions.run((tx) => tx.query(`SELECT 1/0`)).catch((e) => e);
    expect(refused).toMatchObject({ name: 'QueryFailedError', code: '22012' });
    // (aborted: the background passes' own transactions, idle between two statements, do not count)
    const aborted = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction (aborted)'`;
    expect(await db.query(aborted)).toEqual([{ n: 0 }]);
    // every pooled connection still answers (none left inside the failed transaction)
    await Promise.all(Array.from({ length: 12 }, () => transactions.run((tx) => tx.query(`SELECT pg_sleep(0.02)`))));

    // the connection's backend ends between two statements: the server's goodbye arrives while no statement runs
    const before = (await db.query<{ n: number }>(inThisDb))[0].n;
    const died = await transactions
      .run(async (tx) => {
        const [{ pid }] = await tx.query(`SELECT pg_backend_pid() AS pid`);
        await db.query(`SELECT pg_terminate_backend($1)`, [pid]);
        await waitFor(async () => (await db.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [pid])).length === 0, { what: 'the backend gone' });
        await new Promise((resolve) => setTimeout(resolve, 50));
        await tx.query(`SELECT 1`);
      })
      .catch((e) => e);
    expect(isDatabaseUnavailable(died)).toBe(true); // answered 503 in a request
    expect((await db.query<{ n: number }>(inThisDb))[0].n).toBe(before - 1);
    expect(await transactions.run((tx) => tx.query(`SELECT 2 AS two`))).toEqual([{ two: 2 }]);
  });

  it('deferred writes of several owners wait, then run as ONE statement before a later read, which sees them', async () => {
    const risk = t.app.get(PhoneVelocityRepository);
    const seen = await transactions.run(async (tx) => {
      const sent = jest.spyOn(tx.connection, 'query');
      audit.defer(tx, [{ type: 'spec.deferred', actor: { type: 'system' }, clientId, verificationId: 'vrf_DEFER' }]);
      risk.recordSend(tx, '+819099990000', 'vrf_DEFER', new Date());
      expect(sent).not.toHaveBeenCalled(); // deferred: nothing sent yet
      const rows = await tx.query(
        `SELECT (SELECT count(*)::int FROM audit_events WHERE verification_id = 'vrf_DEFER') AS events,
                (SELECT count(*)::int FROM phone_sends WHERE verification_id = 'vrf_DEFER') AS sends`,
      );
      expect(sent).toHaveBeenCalledTimes(2); // the combined write, then the read
      // the statement as handed to node-postgres: its text, named or not (DATABASE_PREPARED_STATEMENTS)
      const text = (arg: unknown) => (typeof arg === 'string' ? arg : (arg as { text: string }).text);
      expect(text(sent.mock.calls[0][0])).toMatch(/^WITH w0 AS \(INSERT INTO audit_events .*\) INSERT INTO phone_sends/s);
      return rows;
    });
    expect(seen).toEqual([{ events: 1, sends: 1 }]);
  });
});
