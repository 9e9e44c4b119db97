import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { AuditRetention, RETENTION_LOCK_KEY } from '../src/audit/audit-retention.service';
import { AppConfig } from '../src/config/app-config';
import { Housekeeping, HOUSEKEEPING_LOCK_KEY } from '../src/database/housekeeping';
import { Transactions } from '../src/database/transactions';
import { chainAll } from './support/audit';
import { createTestDatabase, TestDatabase } from './support/database';
import { Stack, startStack } from './support/stack';
import { sleep, waitFor } from './support/wait';

const KEY = 4_242_000_001;

interface Holder {
  pid: number;
  state: string;
  in_transaction: boolean;
  backend_xid: string | null;
  backend_xmin: string | null;
}

/**
 * The lock behind the jobs one instance at a time runs (housekeeping, audit retention): transaction-scoped, so that
 * it holds behind a pooler in transaction mode (PgBouncer), where a session lock is shared with whichever client gets
 * the server connection next. Two instances on a database whose idle_in_transaction_session_timeout is 300 ms and
 * whose transactions default to REPEATABLE READ.
 */
describe('Transactions.exclusively: one process at a time', () => {
  let db: TestDatabase;
  let stack: Stack;
  let a: Transactions;
  let b: Transactions;
  const archiveDir = mkdtempSync(join(tmpdir(), 'otp-lock-archive-'));

  beforeAll(async () => {
    db = await createTestDatabase();
    const name = new URL(db.url).pathname.slice(1);
    await db.query(`ALTER DATABASE ${name} SET idle_in_transaction_session_timeout = '300ms'`);
    // A database whose transactions default to REPEATABLE READ (a snapshot for the whole transaction)
    await db.query(`ALTER DATABASE ${name} SET default_transaction_isolation = 'repeatable read'`);
    stack = await startStack({ db, instances: 2, env: { HOUSEKEEPING_ENABLED: 'false', AUDIT_ARCHIVE_DIR: archiveDir } });
    [a, b] = stack.apps.map((app) => app.app.get(Transactions));
  });
  afterAll(async () => {
    await stack?.close();
    await db?.drop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  /** The backends holding the lock, as pg_locks and pg_stat_activity tell. */
  const holders = (key = KEY) =>
    db.query<Holder>(
      `SELECT a.pid, a.state, a.xact_start IS NOT NULL AS in_transaction, a.backend_xid::text, a.backend_xmin::text
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE a.datname = current_database() AND l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`,
      [key],
    );
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { open, opened };
  };

  it('while one holds it the others skip; it is held by an idle open transaction that outlives the idle timeout and holds back no VACUUM, even under a REPEATABLE READ default', async () => {
    const g = gate();
    const first = a.exclusively(KEY, async () => {
      await g.opened;
      return 'a ran';
    });
    const [held] = await waitFor(async () => ((await holders()).length ? holders() : undefined), { what: 'the lock to be taken' });

    expect(await b.exclusively(KEY, async () => 'b ran')).toEqual({ ran: false });
    expect(await a.exclusively(KEY, async () => 'a again')).toEqual({ ran: false }); // another connection of the same process
    // An open transaction (a pooler keeps its server connection for it), idle, with no transaction id and no snapshot.
    expect(held).toEqual({ pid: held.pid, state: 'idle in transaction', in_transaction: true, backend_xid: null, backend_xmin: null });

    await sleep(800); // past the database's idle_in_transaction_session_timeout (300 ms)
    expect((await holders()).map((h) => h.pid)).toEqual([held.pid]);

    g.open();
    expect(await first).toEqual({ ran: true, value: 'a ran' });
    expect(await holders()).toEqual([]);
    expect(await b.exclusively(KEY, async () => 'b ran')).toEqual({ ran: true, value: 'b ran' });
  });

  it('work that fails releases the lock, and its error reaches the caller', async () => {
    await expect(
      a.exclusively(KEY, async () => {
        throw new Error('the job failed');
      }),
    ).rejects.toThrow('the job failed');
    expect(await holders()).toEqual([]);
    expect(await b.exclusively(KEY, async () => 'b ran')).toEqual({ ran: true, value: 'b ran' });
  });

  it('a holder whose connection is lost loses the lock at once, and its work is told so; the pool stays usable', async () => {
    const g = gate();
    let stillHeld: () => boolean = () => true;
    const first = a.exclusively(KEY, async (held) => {
      stillHeld = held;
      await g.opened;
      return held() ? 'a ran with its lock' : 'a saw its lock lost';
    });
    const [held] = await waitFor(async () => ((await holders()).length ? holders() : undefined), { what: 'the lock to be taken' });
    expect(stillHeld()).toBe(true);
    await db.query(`SELECT pg_terminate_backend($1)`, [held.pid]);
    await waitFor(async () => (await holders()).length === 0, { what: 'the lock to go with its connection' });
    await waitFor(() => !stillHeld(), { what: 'the work to be told' });
    expect(await b.exclusively(KEY, async () => 'b ran')).toEqual({ ran: true, value: 'b ran' });

    g.open();
    expect(await first).toEqual({ ran: true, value: 'a saw its lock lost' });
    // The broken connection was dropped, not pooled again: the same instance takes the lock again.
    for (let i = 0; i < 12; i++) expect(await a.exclusively(KEY, async () => i)).toEqual({ ran: true, value: i });
  });

  it('housekeeping that loses its lock mid-run stops before its next batch, and the run counts as failed', async () => {
    const app = stack.apps[0];
    const housekeeping = app.app.get(Housekeeping);
    const limit = app.app.get(AppConfig).housekeeping.batchSize;
    let calls = 0;
    housekeeping.register({
      name: 'a task that loses the lock in its first batch',
      prune: async () => {
        calls++;
        if (calls === 1) {
          await db.query(`SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND locktype = 'advisory' AND ((classid::bigint << 32) | objid::bigint) = $1`, [HOUSEKEEPING_LOCK_KEY]);
          await sleep(300); // the holder's connection learns it is gone
        }
        return { lost_lock_test: calls <= 5 ? limit : 0 }; // full batches: without the check, 6 batches
      },
    });
    await expect(housekeeping.runOnce()).rejects.toThrow(/housekeeping lost its lock/);
    expect(calls).toBe(1);
    // counted as a failed run (what OtpHousekeepingFailing alerts on), the batch it did counted as pruned
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toContain('otp_housekeeping_runs_total{result="failed"} 1\n');
    expect(metrics).toContain(`otp_housekeeping_pruned_rows_total{table="lost_lock_test"} ${limit}\n`);
  });

  it('audit retention that loses its lock while it reads archives nothing: no checkpoint, no event deleted, no file left', async () => {
    const app = stack.apps[0];
    await app.createClient(); // a client's audit events, chained below
    await chainAll(app);
    const events = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events`))[0].n;
    const before = await events();
    expect(before).toBeGreaterThan(0);

    // The run waits on the audit table (this connection holds it), while its lock is taken away from it.
    const blocker = new Client({ connectionString: db.url });
    await blocker.connect();
    try {
      await blocker.query(`SET idle_in_transaction_session_timeout = 0`);
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE');
      const run = app.app.get(AuditRetention).runOnce(0);
      run.catch(() => undefined);
      // its first read of the table (other statements wait on it too: the sequencer's, a metrics scrape's)
      await waitFor(
        async () =>
          (await db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'SELECT seq FROM audit_events WHERE seq > $1 AND occurred_at >= $2%'`))
            .length > 0,
        { what: 'the retention run to wait on the audit table' },
      );
      const holding = await holders(RETENTION_LOCK_KEY);
      expect(holding).toHaveLength(1);
      const [held] = holding;
      await db.query(`SELECT pg_terminate_backend($1)`, [held.pid]);
      await waitFor(async () => (await holders(RETENTION_LOCK_KEY)).length === 0, { what: 'the lock to go with its connection' });
      await sleep(300); // the holder's connection learns it is gone
      await blocker.query('ROLLBACK');
      await expect(run).rejects.toThrow(/audit retention lost its lock/);
    } finally {
      await blocker.end();
    }
    expect(await db.query(`SELECT 1 FROM audit_checkpoints`)).toEqual([]);
    expect(await events()).toBe(before);
    expect(readdirSync(archiveDir)).toEqual([]);
    // The next run, holding its lock, archives them.
    expect(await app.app.get(AuditRetention).runOnce(0)).toMatchObject({ archived: before });
    expect(readdirSync(archiveDir)).toHaveLength(1);
  });

  it('two runs that archived the same events (one lost its lock before its commit): one commits, and the file its checkpoint names is kept', async () => {
    const [one, two] = stack.apps;
    await one.createClient();
    await chainAll(one);
    const checkpoints = async () => db.query<{ archive_name: string; archive_sha256: string }>(`SELECT archive_name, archive_sha256 FROM audit_checkpoints ORDER BY seq`);
    const before = (await checkpoints()).length;

    // Both runs wait to insert their checkpoint (SHARE mode lets them read the table first).
    const blocker = new Client({ connectionString: db.url });
    await blocker.connect();
    let runs: Array<PromiseSettledResult<unknown>>;
    try {
      await blocker.query(`SET idle_in_transaction_session_timeout = 0`);
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE audit_checkpoints IN SHARE MODE');
      const inserting = async (n: number) =>
        waitFor(async () => (await db.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO audit_checkpoints%'`)).length === n, {
          what: `${n} run(s) waiting to insert a checkpoint`,
        });
      const first = one.app.get(AuditRetention).runOnce(0);
      first.catch(() => undefined);
      await inserting(1);
      // The first run's lock goes (its connection cut): the second takes it, reads the same checkpoint, and archives the same events.
      const [held] = await holders(RETENTION_LOCK_KEY);
      await db.query(`SELECT pg_terminate_backend($1)`, [held.pid]);
      await waitFor(async () => (await holders(RETENTION_LOCK_KEY)).length === 0, { what: 'the lock to go with its connection' });
      const second = two.app.get(AuditRetention).runOnce(0);
      second.catch(() => undefined);
      await inserting(2);
      await blocker.query('ROLLBACK');
      runs = await Promise.allSettled([first, second]);
    } finally {
      await blocker.end();
    }
    expect(runs.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const after = await checkpoints();
    expect(after).toHaveLength(before + 1);
    const sealed = after[after.length - 1];
    const file = join(archiveDir, sealed.archive_name);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(sealed.archive_sha256);
    expect(readdirSync(archiveDir).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });
});
