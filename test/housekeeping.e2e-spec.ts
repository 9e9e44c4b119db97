import { Client } from 'pg';
import { Housekeeping, HOUSEKEEPING_LOCK_KEY, HousekeepingRun, PruneCursor } from '../src/database/housekeeping';
import { IdempotencyRepository } from '../src/issuance/idempotency.repository';
import { Transactions } from '../src/database/transactions';
import { RiskSignalsRepository } from '../src/risk/risk-signals.repository';
import type { TestApp } from './support/app';
import { chainAll } from './support/audit';
import type { TestDatabase } from './support/database';
import { FakeClock } from './support/fake-clock';
import { FakeServer, whileAnswering } from './support/fake-http';
import { freshPhone } from './support/phones';
import { codeSentTo, createWebhookCaller, postVerification, startVerification, webhooksFor } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { holdNextCall, waitFor } from './support/wait';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describe('housekeeping: spent operational rows are pruned in batches, by one instance at a time (injected clock)', () => {
  let stack: SmsStack;
  let db: TestDatabase;
  let t: TestApp;
  let sms: FakeServer;
  let hooks: FakeServer;
  let key: string;
  const clock = new FakeClock();

  beforeAll(async () => {
    // Timers effectively off: the test runs housekeeping, the poller and the sweeper itself.
    stack = await startSmsStack({
      instances: 2,
      clock,
      env: {
        HOUSEKEEPING_INTERVAL_SECONDS: '86400',
        HOUSEKEEPING_BATCH_SIZE: '100',
        VERIFICATION_RETENTION_DAYS: '90',
        OUTBOX_RETENTION_DAYS: '7',
        OUTBOX_POLL_INTERVAL_MS: '3600000',
        EXPIRY_SWEEP_INTERVAL_MS: '3600000',
        THROTTLE_LIMIT: '100000',
      },
    });
    ({ db, t, sms, hooks } = stack);
    ({ key } = await createWebhookCaller(t, hooks));
  });
  afterAll(async () => stack?.close());

  const housekeeping = (app: TestApp = t) => app.app.get(Housekeeping);
  const count = async (sql: string, params: unknown[] = []) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params))[0].n;
  const settled = () =>
    waitFor(async () => (await count(`outbox WHERE status = 'sending'`)) === 0, { what: 'the outbox to settle (no row sending)' });
  const auditRows = () => count('audit_events');
  /** One run on the first instance; the audit trail has exactly the rows it had before. */
  const prune = async () => {
    const before = await auditRows();
    const run = await housekeeping().runOnce();
    expect(run.ran).toBe(true);
    expect(await auditRows()).toBe(before);
    return run;
  };

  it('removes what served its purpose, at its own age, and keeps everything still live; the audit trail is untouched', async () => {
    const t0 = clock.now().getTime();
    // A: started with an Idempotency-Key, then approved.
    const phoneA = freshPhone();
    const keyed = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phoneA, purpose: 'login' }, headers: { 'idempotency-key': 'hk-old' } });
    expect(keyed.status).toBe(201);
    const a = keyed.body.id as string;
    expect((await t.request('POST', `/v1/verifications/${a}/check`, { key, body: { code: await codeSentTo(sms, phoneA) } })).body.status).toBe('approved');
    // B: a wrong code (a phone_check_failures row); it stays pending in the table, as the sweeper is not run.
    const b = await startVerification(t, sms, key, {});
    const wrong = b.code === '000000' ? '111111' : '000000';
    expect((await t.request('POST', `/v1/verifications/${b.id}/check`, { key, body: { code: wrong } })).body.attemptsRemaining).toBe(4);
    // E: approved with its code; its SMS and its result webhook are done.
    const e = await startVerification(t, sms, key, {});
    expect((await t.request('POST', `/v1/verifications/${e.id}/check`, { key, body: { code: e.code } })).body.status).toBe('approved');
    await waitFor(() => webhooksFor(hooks, e.id).length > 0, { what: `the result webhook of ${e.id}` });
    await settled();
    // F: its SMS is refused (503): its outbox row waits for a retry, not done however old it gets.
    let f!: string;
    await whileAnswering(sms, () => ({ status: 503 }), async () => {
      f = (await postVerification(t, key)).id;
      await settled();
    });
    expect((await db.query<{ status: string }>(`SELECT status FROM outbox WHERE verification_id = $1 AND kind = 'sms'`, [f]))[0].status).toBe('pending');

    const oldSends = await count(`phone_sends WHERE sent_at <= $1`, [new Date(t0 + 60_000)]);
    expect(oldSends).toBeGreaterThanOrEqual(4);
    expect(await count('phone_check_failures')).toBe(1);
    expect(await count(`idempotency_keys WHERE key = 'hk-old'`)).toBe(1);
    const eOutbox = await count(`outbox WHERE verification_id = $1`, [e.id]);
    const eAttempts = await count(`outbox_attempts WHERE outbox_id IN (SELECT id FROM outbox WHERE verification_id = $1)`, [e.id]);
    expect(eOutbox).toBe(2); // the SMS and the result webhook
    expect(eAttempts).toBeGreaterThanOrEqual(2);
    expect(await count('risk_unit_counts')).toBeGreaterThan(0);

    // Nothing is old yet: a run deletes nothing.
    const first = await prune();
    expect(first.ran).toBe(true);
    expect(Object.values(first.pruned).reduce((x, y) => x + y, 0)).toBe(0);

    // +26 h: the idempotency key (24 h), the per-number velocity rows and the hourly unit counters are spent.
    clock.set(new Date(t0 + 26 * HOUR));
    const phoneLive = freshPhone();
    const fresh = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phoneLive, purpose: 'login' }, headers: { 'idempotency-key': 'hk-new' } });
    expect(fresh.status).toBe(201);
    const liveId = fresh.body.id as string;
    await settled();
    const day1 = await prune();
    expect(day1.ran).toBe(true);
    expect(day1.pruned).toMatchObject({ idempotency_keys: 1, phone_sends: oldSends, phone_check_failures: 1, outbox: 0, verifications: 0 });
    expect(day1.pruned.risk_unit_counts).toBeGreaterThan(0);
    expect(await count(`idempotency_keys WHERE key = 'hk-old'`)).toBe(0);
    expect(await count(`idempotency_keys WHERE key = 'hk-new'`)).toBe(1); // recent: kept
    expect(await count(`phone_sends WHERE verification_id = $1`, [liveId])).toBe(1); // recent: kept
    expect(await count('phone_check_failures')).toBe(0);
    expect(await count(`outbox WHERE verification_id = $1`, [e.id])).toBe(eOutbox); // done but young: kept
    // the same key within 24 h still answers the first answer (the kept key works)
    const again = await t.request('POST', '/v1/verifications', { key, body: { phoneNumber: phoneLive, purpose: 'login' }, headers: { 'idempotency-key': 'hk-new' } });
    expect(again.body.id).toBe(liveId);

    // +8 days: finished outbox rows (and their attempts) are past OUTBOX_RETENTION_DAYS; the refused one is not finished.
    clock.set(new Date(t0 + 8 * DAY));
    const day8 = await prune();
    expect(day8.pruned.outbox).toBeGreaterThanOrEqual(eOutbox);
    expect(day8.pruned.outbox_attempts).toBeGreaterThanOrEqual(eAttempts);
    expect(await count(`outbox WHERE verification_id = $1`, [e.id])).toBe(0);
    expect(await count(`outbox_attempts WHERE outbox_id NOT IN (SELECT id FROM outbox)`)).toBe(0);
    expect(await count(`outbox WHERE status NOT IN ('done', 'failed')`)).toBeGreaterThanOrEqual(1);
    expect((await db.query<{ status: string }>(`SELECT status FROM outbox WHERE verification_id = $1 AND kind = 'sms'`, [f]))[0].status).toBe('pending');
    expect(day8.pruned.verifications).toBe(0); // inside VERIFICATION_RETENTION_DAYS
    expect((await t.request('GET', `/v1/verifications/${e.id}`, { key })).body.status).toBe('approved');

    // +91 days: final verifications are past their retention; open ones (B and F are still pending in the table) stay.
    clock.set(new Date(t0 + 91 * DAY));
    const live = await postVerification(t, key);
    await settled();
    const day91 = await prune();
    expect(day91.pruned.verifications).toBeGreaterThanOrEqual(2);
    expect((await t.request('GET', `/v1/verifications/${e.id}`, { key })).status).toBe(404);
    expect(await count(`verifications WHERE id = $1`, [a])).toBe(0);
    expect(await count(`verifications WHERE id = ANY($1)`, [[b.id, f, live.id]])).toBe(3);
    expect((await t.request('GET', `/v1/verifications/${live.id}`, { key })).body.status).toBe('pending');

    // The audit trail keeps every fact (each run above left its row count as it was), and its chain still verifies.
    expect(await count(`audit_events WHERE verification_id = $1`, [e.id])).toBeGreaterThan(0);
    await chainAll(t);
    const reader = await t.createClient(['audit:read']);
    const integrity = await t.request('GET', '/v1/admin/audit-events/integrity', { key: reader.key });
    expect(integrity.status).toBe(200);
    expect(integrity.body.ok).toBe(true);

    // One log line per run, with the counts per table; and the metric per table.
    expect(t.logs.some((l) => l.includes('housekeeping pruned') && l.includes('"verifications"'))).toBe(true);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/otp_housekeeping_pruned_rows_total\{table="idempotency_keys"\} 2\b/); // hk-old on day 1, hk-new on day 8
    expect(metrics).toContain(`otp_housekeeping_pruned_rows_total{table="verifications"} ${day91.pruned.verifications}\n`);
  });

  it('two instances never prune at once: while one holds the lock the other skips, and every row goes exactly once', async () => {
    const now = clock.now();
    const seed = (n: number) =>
      db.query(
        `INSERT INTO idempotency_keys (client_id, key, request_hash, created_at)
         SELECT (SELECT id FROM api_clients LIMIT 1), 'seed-' || g || '-' || $2::text, '\\x00', $1 FROM generate_series(1, $3) AS g`,
        [new Date(now.getTime() - 2 * DAY), String(now.getTime()) + Math.random(), n],
      );

    // A third party (as another instance would) holds the lock: both instances skip, nothing is deleted.
    await seed(300);
    const holder = new Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock($1)`, [HOUSEKEEPING_LOCK_KEY]);
      const skipped = await Promise.all(stack.apps.map((app) => housekeeping(app).runOnce()));
      expect(skipped.map((r) => r.ran)).toEqual([false, false]);
      expect(await count(`idempotency_keys WHERE key LIKE 'seed-%'`)).toBe(300);
    } finally {
      await holder.query(`SELECT pg_advisory_unlock($1)`, [HOUSEKEEPING_LOCK_KEY]);
      await holder.end();
    }

    // Both at once, over many batches: one runs, the other skips, and the rows deleted add up to the rows there were.
    const scrape = async (app: TestApp) => (await fetch(`${app.url}/metrics`)).text();
    const value = (text: string, series: string) => Number(text.match(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\d+)`, 'm'))?.[1] ?? 0);
    const total = async (series: string) => (await Promise.all(stack.apps.map(scrape))).reduce((n, x) => n + value(x, series), 0);
    const prunedBefore = await total('otp_housekeeping_pruned_rows_total{table="idempotency_keys"}');
    await seed(4700);
    const runs: HousekeepingRun[] = await Promise.all(stack.apps.map((app) => housekeeping(app).runOnce()));
    expect(runs.map((r) => r.ran).sort()).toEqual([false, true]);
    const ran = runs.find((r) => r.ran)!;
    expect(ran.pruned.idempotency_keys).toBe(5000);
    expect(ran.batches).toBeGreaterThanOrEqual(50);
    expect(runs.reduce((n, r) => n + (r.pruned.idempotency_keys ?? 0), 0)).toBe(5000);
    expect(await count(`idempotency_keys WHERE key LIKE 'seed-%'`)).toBe(0);

    // The instances' metrics say the same: across both, each row counted once, and one run skipped.
    expect(await total('otp_housekeeping_runs_total{result="skipped"}')).toBe(3);
    expect((await total('otp_housekeeping_pruned_rows_total{table="idempotency_keys"}')) - prunedBefore).toBe(5000);
  });

  it('a pass starts a day behind where its last pass stopped, not at the oldest row: it does not walk again what it deleted', async () => {
    clock.advance(10 * DAY); // past every row the tests above left
    const now = clock.now().getTime();
    const tag = `cur-${now}`;
    const insert = (what: string, at: number, n = 1) =>
      db.query(
        `INSERT INTO idempotency_keys (client_id, key, request_hash, created_at)
         SELECT (SELECT id FROM api_clients LIMIT 1), $2 || '-' || g, '\\x00', $1 FROM generate_series(1, $3) AS g`,
        [new Date(at), `${tag}-${what}`, n],
      );
    const left = async (what: string) => count(`idempotency_keys WHERE key LIKE $1`, [`${tag}-${what}-%`]);
    // Three batches of 100 and a short one: the pass goes on from where each batch stopped.
    await insert('a', now - 2 * DAY - 3 * HOUR, 150);
    await insert('b', now - 2 * DAY, 150);
    expect((await prune()).pruned.idempotency_keys).toBe(300);
    // Written behind where that pass stopped (2 days back): 12 h behind it is within the rewind and goes; 3 days
    // behind it is where the pass no longer scans (no row is written that late: created_at is the time of the insert).
    await insert('late', now - 2 * DAY - 12 * HOUR);
    await insert('old', now - 5 * DAY);
    await prune();
    expect({ late: await left('late'), old: await left('old') }).toEqual({ late: 0, old: 1 });
    await db.query(`DELETE FROM idempotency_keys WHERE key LIKE $1`, [`${tag}-%`]);
  });

  it('a row skipped because another transaction held it is taken by the next full pass, a day on, though the cursor went past it', async () => {
    clock.advance(10 * DAY);
    const now = clock.now().getTime();
    const tag = `skip-${now}`;
    await db.query(
      `INSERT INTO idempotency_keys (client_id, key, request_hash, created_at)
       SELECT (SELECT id FROM api_clients LIMIT 1), $1 || '-held', '\\x00'::bytea, $2::timestamptz
       UNION ALL SELECT (SELECT id FROM api_clients LIMIT 1), $1 || '-' || g, '\\x00'::bytea, $3 FROM generate_series(1, 10) AS g`,
      [tag, new Date(now - 5 * DAY), new Date(now - 2 * DAY)],
    );
    const held = () => count(`idempotency_keys WHERE key = $1`, [`${tag}-held`]);
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM idempotency_keys WHERE key = $1 FOR UPDATE`, [`${tag}-held`]);
      expect((await prune()).pruned.idempotency_keys).toBe(10); // the pass goes on past the held row, to 2 days back
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    await prune(); // the same day: from a day behind the cursor (3 days back), not from the held row's 5
    expect(await held()).toBe(1);
    clock.advance(DAY);
    expect((await prune()).pruned.idempotency_keys).toBe(1);
    expect(await held()).toBe(0);
  });

  it('a risk counter row another transaction holds is skipped, not waited for (pruning takes rows in no order, so waiting could deadlock)', async () => {
    const repo = t.app.get(RiskSignalsRepository);
    const transactions = t.app.get(Transactions);
    const now = new Date();
    const old = new Date(now.getTime() - 3 * DAY);
    await db.query(`INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started) VALUES ('prefix', 'held', $1, 0, 1), ('prefix', 'free', $1, 0, 1)`, [old]);
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM risk_unit_counts WHERE unit = 'held' FOR UPDATE`); // as the approvals' fold writing an old bucket holds it
      const pruning = transactions.run((tx) => repo.prune(tx, now, DAY, 100));
      const result = await Promise.race([pruning, new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 3000))]);
      expect(result === 'still waiting' ? result : result.risk_unit_counts).toBeGreaterThanOrEqual(1);
      expect((await db.query<{ unit: string }>(`SELECT unit FROM risk_unit_counts WHERE unit IN ('held', 'free')`)).map((r) => r.unit)).toEqual(['held']);
      await other.query('COMMIT');
      await pruning;
    } finally {
      await other.end();
    }
    await transactions.run((tx) => repo.prune(tx, now, DAY, 100)); // the next pass takes it
    expect(await count(`risk_unit_counts WHERE unit = 'held'`)).toBe(0);
  });

  it('an expired idempotency key being claimed again is skipped, not waited for, and lives on with its new time', async () => {
    const repo = t.app.get(IdempotencyRepository);
    const transactions = t.app.get(Transactions);
    const now = new Date();
    const name = `reclaimed-${now.getTime()}`;
    await db.query(`INSERT INTO idempotency_keys (client_id, key, request_hash, created_at) VALUES ((SELECT id FROM api_clients LIMIT 1), $1, '\\x00', $2)`, [
      name,
      new Date(now.getTime() - 2 * DAY),
    ]);
    const other = new Client({ connectionString: db.url });
    await other.connect();
    try {
      // as IdempotencyRepository.claim's ON CONFLICT DO UPDATE does when a retry reuses a key past its 24 h
      await other.query('BEGIN');
      await other.query(`UPDATE idempotency_keys SET created_at = $2 WHERE key = $1`, [name, now]);
      const pruning = transactions.run((tx) => repo.pruneExpired(tx, now, 100, new PruneCursor()));
      expect(await Promise.race([pruning, new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 3000))])).not.toBe('still waiting');
      await other.query('COMMIT');
      await pruning;
    } finally {
      await other.end();
    }
    expect(await count(`idempotency_keys WHERE key = $1`, [name])).toBe(1);
    await transactions.run((tx) => repo.pruneExpired(tx, now, 100, new PruneCursor())); // its time is now: the next pass keeps it too
    expect(await count(`idempotency_keys WHERE key = $1`, [name])).toBe(1);
  });

  it('each batch uses an index (EXPLAIN), so a batch stays cheap as the tables grow', async () => {
    const plans: Record<string, string> = {
      // oldest first from where the pass got to (PruneCursor)
      idempotency_keys: `SELECT ctid FROM idempotency_keys WHERE created_at >= now() - interval '30 days' AND created_at < now() ORDER BY created_at LIMIT 100`,
      verifications: `SELECT ctid FROM verifications WHERE status NOT IN ('pending', 'screening') AND created_at >= now() - interval '30 days' AND created_at < now() ORDER BY created_at LIMIT 100`,
      outbox: `SELECT id FROM outbox WHERE status IN ('done', 'failed') AND created_at >= now() - interval '30 days' AND created_at < now() ORDER BY created_at LIMIT 100`,
      voice_calls: `SELECT ctid FROM voice_calls WHERE created_at < now() LIMIT 100`,
      phone_sends: `SELECT ctid FROM phone_sends WHERE sent_at >= now() - interval '30 days' AND sent_at < now() ORDER BY sent_at LIMIT 100`,
      phone_check_failures: `SELECT ctid FROM phone_check_failures WHERE failed_at >= now() - interval '30 days' AND failed_at < now() ORDER BY failed_at LIMIT 100`,
    };
    const c = new Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query('SET enable_seqscan = off'); // the tables are tiny here: ask whether an index can serve the batch at all
      for (const [table, sql] of Object.entries(plans)) {
        const plan = (await c.query(`EXPLAIN ${sql}`)).rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
        expect({ table, usesIndex: /Index (Only )?Scan|Bitmap Index Scan/.test(plan) }).toEqual({ table, usesIndex: true });
      }
    } finally {
      await c.end();
    }
  });

  it('a run asked for while one is under way is one more run, from the clock at the call (the last test: it adds a task)', async () => {
    // a task of the test's own, which only records the time each run prunes at
    const seen: number[] = [];
    const probe = { name: 'probe', prune: async (now: Date) => (seen.push(now.getTime()), {}) };
    housekeeping().register(probe);
    const hold = holdNextCall(probe, 'prune');
    try {
      const first = housekeeping().runOnce();
      await hold.reached;
      clock.advance(HOUR);
      const second = housekeeping().runOnce();
      hold.release();
      expect((await first).ran).toBe(true);
      // without the one more run, the second call would be the first's answer, at the clock the first had read
      expect((await second).ran).toBe(true);
      expect(seen).toHaveLength(2);
      expect(seen[1] - seen[0]).toBe(HOUR);
    } finally {
      hold.restore();
    }
  });
});
