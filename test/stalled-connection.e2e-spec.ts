import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { AuditReader } from '../src/audit/audit-reader.service';
import { AuditRetention } from '../src/audit/audit-retention.service';
import { AuditSequencer } from '../src/audit/audit-sequencer.service';
import { Transactions } from '../src/database/transactions';
import { chainAll } from './support/audit';
import { Stack, startStack } from './support/stack';
import { waitFor } from './support/wait';

const POOL_SIZE = 4;

/**
 * A statement that the server does not answer in time (a frozen backend, a half-open connection to a primary that
 * failed over) fails on the client side with "Query read timeout" while it is still in flight on its connection.
 * The audit trail's own connections (the sequencer, the integrity check, the export, retention) must then be dropped,
 * not pooled again: node-postgres sends in order, so whoever took that connection next would wait behind the dead
 * statement and fail in its turn, one request after another.
 *
 * A real backend is made to stop answering: its statement waits on a lock the test holds, and the backend process is
 * sent SIGSTOP (PostgreSQL runs on this machine, as the service's own embedded one does) until the test ends.
 */
describe('a connection whose statement did not answer is dropped, not pooled again (real PostgreSQL)', () => {
  let stack: Stack;
  const archiveDir = mkdtempSync(join(tmpdir(), 'otp-stalled-'));

  beforeAll(async () => {
    stack = await startStack({
      env: {
        AUDIT_SEQUENCER_ENABLED: 'false',
        HOUSEKEEPING_ENABLED: 'false',
        AUDIT_ARCHIVE_DIR: archiveDir,
        DATABASE_POOL_SIZE: String(POOL_SIZE),
        // the server cancels a statement after 3 s (the test has that long to stop the backend waiting on its lock, on a
        // busy machine too); the client gives up on one the server does not answer after 4 s
        DATABASE_STATEMENT_TIMEOUT_MS: '3000',
      },
    });
    await stack.t.createClient();
    await chainAll(stack.t);
  });
  afterAll(async () => {
    await stack?.close();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  /** Runs `work` with its first statement on `table` held by a lock, and its backend stopped once it waits there. */
  async function stalled(table: string, work: () => Promise<unknown>): Promise<unknown> {
    const locker = new Client({ connectionString: stack.db.url });
    await locker.connect();
    let stopped: number | undefined;
    try {
      await locker.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      const outcome = work().then(
        () => new Error('it succeeded'),
        (err: unknown) => err,
      );
      const waiter = await waitFor(
        async () =>
          // read outside the locker's transaction, which would keep its first read of pg_stat_activity (without a connection opened since)
          (
            await stack.db.query<{ pid: number }>(
              `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                WHERE NOT l.granted AND l.relation = $1::regclass AND a.datname = current_database() AND a.application_name = 'otp-verify'`,
              [table],
            )
          )[0],
        { what: `a statement of the service waiting on ${table}` },
      );
      // only a PostgreSQL backend of this machine is stopped (a database elsewhere has its pids in another namespace)
      const title = processTitle(waiter.pid);
      if (!/^postgres/.test(title)) throw new Error(`pid ${waiter.pid} is not a PostgreSQL backend on this machine (${JSON.stringify(title.slice(0, 60))}): this test needs the database local`);
      process.kill(waiter.pid, 'SIGSTOP');
      stopped = waiter.pid;
      await locker.query('ROLLBACK');
      return await outcome;
    } catch (err) {
      if (stopped) process.kill(stopped, 'SIGCONT');
      stopped = undefined;
      throw err;
    } finally {
      await locker.end();
      // once the test is done with it: the stopped backend then answers, or reads the dropped connection's goodbye
      if (stopped) afterStopped.push(stopped);
    }
  }
  const afterStopped: number[] = [];
  afterEach(() => {
    for (const pid of afterStopped.splice(0)) process.kill(pid, 'SIGCONT');
  });

  /** Every connection the pool has or may open answers at once: none of them is behind a statement still in flight. */
  async function poolAnswers(): Promise<void> {
    const reader = stack.t.app.get(Transactions).reader;
    const started = performance.now();
    const answers = await Promise.allSettled(Array.from({ length: POOL_SIZE }, () => reader.query('SELECT pg_sleep(0.2), 1 AS one')));
    expect(answers.map((a) => (a.status === 'fulfilled' ? 'answered' : String(a.reason)))).toEqual(Array(POOL_SIZE).fill('answered'));
    expect(performance.now() - started).toBeLessThan(4000); // not queued behind a statement in flight (4 s each)
  }

  it.each([
    ['the sequencer', 'audit_chain_head', () => stack.t.app.get(AuditSequencer).chainPending()],
    ['the integrity check', 'audit_checkpoints', () => stack.t.app.get(AuditReader).verifyChain()],
    ['the export', 'audit_events', () => drain(stack.t.app.get(AuditReader).streamEvents({}))],
    ['retention', 'audit_checkpoints', () => stack.t.app.get(AuditRetention).runOnce(0)],
  ])('%s', async (_name, table, work) => {
    const err = await stalled(table, work);
    expect(String(err)).toMatch(/Query read timeout/);
    await poolAnswers();
  }, 30_000);
});

async function drain(events: AsyncGenerator<unknown>): Promise<void> {
  for await (const _ of events);
}

/** A process's command line as /proc shows it ('' when there is no such process here). */
function processTitle(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
