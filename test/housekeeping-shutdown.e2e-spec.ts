import { DataSource } from 'typeorm';
import { Housekeeping } from '../src/database/housekeeping';
import { Transactions } from '../src/database/transactions';
import { startTestApp } from './support/app';
import { createTestDatabase, TestDatabase } from './support/database';
import { sleep, waitFor } from './support/wait';

/**
 * A deploy's SIGTERM in the middle of a housekeeping run: the run stops before its next batch and ends cleanly;
 * the database pool is not closed under it (which would fail the run's next batch and log it as a failure).
 */
describe('housekeeping at shutdown', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('a run under way when the application closes stops before its next batch: no failure, and the pool closes after it', async () => {
    const t = await startTestApp(db.url, { HOUSEKEEPING_INTERVAL_SECONDS: '86400' });
    const logsBefore = t.logs.length;
    const housekeeping = t.app.get(Housekeeping);
    const pool = (t.app.get(DataSource).driver as unknown as { master: { ending: boolean } }).master;
    const transactions = t.app.get(Transactions);
    // Two tasks after the service's own: the first holds its batch until the close has begun, the second is the
    // batch that must not start (it would need a connection from the pool).
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reached!: () => void;
    const inBatch = new Promise<void>((resolve) => (reached = resolve));
    const secondBatch: string[] = [];
    housekeeping.register({
      name: 'held batch',
      prune: async () => {
        reached();
        await held;
        return {};
      },
    });
    housekeeping.register({
      name: 'next batch',
      prune: async () => {
        secondBatch.push(await transactions.run(async (tx) => ((await tx.query(`SELECT 'ran' AS ok`)) as Array<{ ok: string }>)[0].ok));
        return {};
      },
    });

    const run = housekeeping.runOnce();
    await inBatch;
    const closed = t.close();
    // The close has told housekeeping to stop (within 10 s on a loaded machine), then reached the pool (the fault) or
    // a second more has passed (time enough to reach it)
    const told = () => (housekeeping as unknown as { stopping: boolean }).stopping;
    await waitFor(() => told() || pool.ending, { what: 'the close under way' });
    const deadline = Date.now() + 1000;
    while (!pool.ending && Date.now() < deadline) await sleep(10);
    const poolEndingWhileRunHeld = pool.ending;
    release();

    await expect(run).resolves.toMatchObject({ ran: true });
    await closed;
    expect({ poolEndingWhileRunHeld, secondBatch }).toEqual({ poolEndingWhileRunHeld: false, secondBatch: [] });
    const text = t.logs.slice(logsBefore).join('');
    expect(text).not.toMatch(/housekeeping run failed/);
    const runs = (await housekeeping.metrics.runs.get()).values.map((v) => [v.labels.result, v.value]);
    expect(runs).toEqual([['ran', 1]]);
  });
});
