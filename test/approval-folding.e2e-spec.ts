// Verified codes reach the pumping rules' counters through risk_approvals (src/risk/approval-folding.ts): a check
// appends its approval, and one instance at a time folds the approvals into risk_unit_counts (10-minute buckets) and
// risk_unit_days (UTC day, hour by hour) for the number's prefix and country and the start's end-user IP, deleting
// them in the same transaction. Here: every approval is counted exactly once, in the bucket, day and hour it
// happened in, even with two instances folding at once; many accounts per number does not wait for a fold; the
// shard rows of closed buckets are summed into one row each by the same fold.
import { DataSource } from 'typeorm';
import { migrations } from '../migrations';
import { dataSourceOptions } from '../src/database/data-source-options';
import { Transactions } from '../src/database/transactions';
import { ApprovalFolding } from '../src/risk/approval-folding';
import { RiskSignalsRepository } from '../src/risk/risk-signals.repository';
import { createTestDatabase } from './support/database';
import { FakeClock } from './support/fake-clock';
import { codeSentTo, messagesTo } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { holdNextCall } from './support/wait';

describe('approvals folded into the unit counters', () => {
  let s: SmsStack;
  let clock: FakeClock;
  let bank: { key: string };

  beforeAll(async () => {
    // 23:55 UTC: the approvals below fall into two buckets, two hours and two days
    clock = new FakeClock(Date.parse('2026-11-30T23:55:00Z'));
    // the timer never fires during a test: the folds are the test's own calls
    s = await startSmsStack({ instances: 2, clock, env: { THROTTLE_LIMIT: '100000', RISK_APPROVALS_FOLD_INTERVAL_MS: '60000' } });
    bank = await s.t.createClient(['verifications:write', 'verifications:check']);
  });
  afterAll(async () => s?.close());

  let n = 0;
  /** Starts and checks a code for a fresh number under `prefix`, through the instances in turn. */
  const verify = async (prefix: string, endUser?: Record<string, unknown>) => {
    const phone = `+${prefix}${String(n++).padStart(4, '0')}`;
    const app = s.apps[n % 2];
    const v = await app.request('POST', '/v1/verifications', { key: bank.key, body: { phoneNumber: phone, purpose: 'login', ...(endUser ? { endUser } : {}) } });
    expect(v.status).toBe(201);
    const code = await codeSentTo(s.sms, phone);
    expect((await app.request('POST', `/v1/verifications/${v.body.id}/check`, { key: bank.key, body: { code } })).body.status).toBe('approved');
  };
  const waiting = async () => Number((await s.db.query<{ n: string }>(`SELECT count(*) AS n FROM risk_approvals`))[0].n);
  const verifiedBuckets = () =>
    s.db.query(`SELECT kind, unit, bucket, sum(verified)::int AS verified FROM risk_unit_counts WHERE verified > 0 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`);
  const verifiedDays = () =>
    s.db.query<{ kind: string; unit: string; day: string; verified: number; hours: number[] }>(
      `SELECT kind, unit, to_char(day, 'YYYY-MM-DD') AS day, sum(verified)::int AS verified,
              ARRAY[sum(verified_hours[1])::int, sum(verified_hours[24])::int] AS hours
         FROM risk_unit_days GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    );

  it('each approval is counted once, for its prefix, country and IP, in the bucket, day and hour it happened in', async () => {
    for (let i = 0; i < 3; i++) await verify('81705551', { ip: '198.51.100.7' });
    await verify('81705552');
    clock.advance(10 * 60_000); // 00:05 the next day
    for (let i = 0; i < 2; i++) await verify('81705551');

    // Checked, not yet counted: the approvals wait, the counters have no verified code.
    expect(await waiting()).toBe(6);
    expect(await verifiedBuckets()).toEqual([]);

    expect(await s.apps[0].app.get(ApprovalFolding).foldNow()).toBe(6);
    expect(await waiting()).toBe(0);
    const before = new Date('2026-11-30T23:50:00Z');
    const after = new Date('2026-12-01T00:00:00Z');
    expect(await verifiedBuckets()).toEqual([
      { kind: 'country', unit: 'JP', bucket: before, verified: 4 },
      { kind: 'country', unit: 'JP', bucket: after, verified: 2 },
      { kind: 'ip', unit: '198.51.100.7', bucket: before, verified: 3 },
      { kind: 'prefix', unit: '81705551', bucket: before, verified: 3 },
      { kind: 'prefix', unit: '81705551', bucket: after, verified: 2 },
      { kind: 'prefix', unit: '81705552', bucket: before, verified: 1 },
    ]);
    // hours[0] is 00:00–01:00 UTC, hours[1] 23:00–24:00
    expect(await verifiedDays()).toEqual([
      { kind: 'country', unit: 'JP', day: '2026-11-30', verified: 4, hours: [0, 4] },
      { kind: 'country', unit: 'JP', day: '2026-12-01', verified: 2, hours: [2, 0] },
      { kind: 'ip', unit: '198.51.100.7', day: '2026-11-30', verified: 3, hours: [0, 3] },
      { kind: 'prefix', unit: '81705551', day: '2026-11-30', verified: 3, hours: [0, 3] },
      { kind: 'prefix', unit: '81705551', day: '2026-12-01', verified: 2, hours: [2, 0] },
      { kind: 'prefix', unit: '81705552', day: '2026-11-30', verified: 1, hours: [0, 1] },
    ]);
    // Nothing left: a second fold adds nothing.
    expect(await s.apps[1].app.get(ApprovalFolding).foldNow()).toBe(0);
    expect((await verifiedDays()).reduce((sum, d) => sum + d.verified, 0)).toBe(6 + 6 + 3);
  });

  it('two instances folding at once count every approval exactly once; folds add to what is counted', async () => {
    const total = async () => Number((await s.db.query<{ n: string }>(`SELECT coalesce(sum(verified), 0) AS n FROM risk_unit_counts WHERE kind = 'prefix' AND unit = '81705553'`))[0].n);
    const folders = s.apps.map((a) => a.app.get(ApprovalFolding));
    let folded = 0;
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 5; i++) await verify('81705553');
      // both at the same moment: one takes the lock and folds, the other skips the tick (or finds nothing left)
      folded += (await Promise.all(folders.map((f) => f.foldNow()))).reduce((a, b) => a + b, 0);
    }
    expect(folded).toBe(20);
    expect(await waiting()).toBe(0);
    expect(await total()).toBe(20);
  });

  it('a fold asked for while one is under way folds what was committed after that one read its batch', async () => {
    const folder = s.apps[0].app.get(ApprovalFolding);
    // the first fold reads its batch (nothing waits), then holds until the approval below has committed
    const hold = holdNextCall(s.apps[0].app.get(RiskSignalsRepository), 'foldApprovals');
    try {
      const first = folder.foldNow();
      await hold.reached;
      await verify('81705556');
      expect(await waiting()).toBe(1);
      const second = folder.foldNow();
      hold.release();
      expect(await first).toBe(0);
      // without the one more fold, the second call would be the first's answer, and the approval would still wait
      expect(await second).toBe(1);
      expect(await waiting()).toBe(0);
    } finally {
      hold.restore();
    }
  });

  it('many accounts per number does not wait for a fold: the account is on record with the approval', async () => {
    const phone = '+817055540001';
    const account = (accountRef: string) => s.t.request('POST', '/v1/verifications', { key: bank.key, body: { phoneNumber: phone, purpose: 'login', endUser: { accountRef } } });
    for (const ref of ['a-1', 'a-2', 'a-3']) {
      const nth = messagesTo(s.sms, phone).length + 1;
      const v = await account(ref);
      expect(v.status).toBe(201);
      const code = await codeSentTo(s.sms, phone, { nth });
      expect((await s.t.request('POST', `/v1/verifications/${v.body.id}/check`, { key: bank.key, body: { code } })).body.status).toBe('approved');
    }
    expect(await waiting()).toBe(3);
    const fourth = await account('a-4');
    expect(fourth.status).toBe(202);
    expect(fourth.body).toMatchObject({ status: 'screening', risk: { decision: 'screen', reasons: ['many_accounts_per_number'] } });
  });

  it('sums the shard rows of each closed bucket into one row, once, and leaves open buckets and recently closed ones as they are', async () => {
    // 02:00:30: the 02:00 bucket is open, the 01:50 one closed 30 s ago (within the margin left to late starts)
    clock.set('2026-12-01T02:00:30Z');
    const buckets = ['01:30', '01:40', '01:50', '02:00'].map((hm) => new Date(`2026-12-01T${hm}:00Z`));
    // 1,000 prefixes × 8 shards in each of the two older buckets: 14,000 shard rows to take, more than one batch of 5,000
    await s.db.query(
      `INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started, verified)
       SELECT 'prefix', '8171' || lpad(p::text, 4, '0'), b, sh, sh + 1, CASE WHEN sh = 0 THEN 2 ELSE 0 END
         FROM generate_series(0, 999) p, unnest($1::timestamptz[]) b, generate_series(0, 7) sh`,
      [buckets],
    );
    const sums = () =>
      s.db.query<{ bucket: Date; rows: number; started: number; verified: number }>(
        `SELECT bucket, count(*)::int AS rows, sum(started)::int AS started, sum(verified)::int AS verified
           FROM risk_unit_counts WHERE kind = 'prefix' AND unit LIKE '8171%' GROUP BY bucket ORDER BY bucket`,
      );
    // each prefix: started 1 + 2 + … + 8 = 36 per bucket, verified 2
    const before = await sums();
    expect(before).toEqual(buckets.map((bucket) => ({ bucket, rows: 8000, started: 36_000, verified: 2000 })));

    // a shard row of a bucket more than a day old: no rule reads it, housekeeping deletes it; the fold leaves it alone
    const old = new Date('2026-11-30T01:00:00Z');
    await s.db.query(`INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started) VALUES ('prefix', '81710007', $1, 3, 2)`, [old]);

    // what screening reads of a prefix, before and after
    const read = () =>
      s.apps[0].app.get(Transactions).run(async (tx) => {
        const q = { who: { phone: '+817100070000', clientId: 'cli_x', accountRefHash: null }, prefixes: [], sendLimit: 10, failureLimit: 10, accountsWindowMs: 30 * 86_400_000 };
        return (await s.apps[0].app.get(RiskSignalsRepository).startState(tx, { ...q, units: [{ kind: 'prefix', value: '81710007' }] }, clock.now())).units;
      });
    const readBefore = await read();
    expect(readBefore[0]).toMatchObject({ started24h: 4 * 36, started1h: 4 * 36, hour: buckets.map((b) => ({ at: b.getTime(), started: 36 })) });

    // one batch of 5,000 a tick, so that the approvals of the next tick never wait behind a long backlog
    // (the shard rows of the earlier tests' closed buckets too)
    const closedShardRows = async () =>
      Number((await s.db.query<{ n: string }>(`SELECT count(*) AS n FROM risk_unit_counts WHERE shard > 0 AND bucket > $1 AND bucket < $2`, [old, buckets[2]]))[0].n);
    const backlog = await closedShardRows();
    expect(backlog).toBeGreaterThanOrEqual(14_000);
    await s.apps[0].app.get(ApprovalFolding).foldNow();
    expect(await closedShardRows()).toBe(backlog - 5000);
    // both instances at once, then ticks until nothing is left: every row is summed exactly once
    await Promise.all(s.apps.map((a) => a.app.get(ApprovalFolding).foldNow()));
    for (let tick = 0; tick < 2; tick++) await s.apps[1].app.get(ApprovalFolding).foldNow();
    expect(await closedShardRows()).toBe(0);
    expect(await s.db.query(`SELECT shard, started FROM risk_unit_counts WHERE bucket = $1`, [old])).toEqual([{ shard: 3, started: 2 }]);
    await s.db.query(`DELETE FROM risk_unit_counts WHERE bucket = $1`, [old]);

    expect(await sums()).toEqual([
      { bucket: buckets[0], rows: 1000, started: 36_000, verified: 2000 },
      { bucket: buckets[1], rows: 1000, started: 36_000, verified: 2000 },
      { bucket: buckets[2], rows: 8000, started: 36_000, verified: 2000 },
      { bucket: buckets[3], rows: 8000, started: 36_000, verified: 2000 },
    ]);
    expect(await s.db.query(`SELECT DISTINCT shard FROM risk_unit_counts WHERE kind = 'prefix' AND unit = '81710007' AND bucket < $1`, [buckets[2]])).toEqual([{ shard: 0 }]);
    // screening reads the same figures from the summed rows
    expect(await read()).toEqual(readBefore);

    // a minute later the 01:50 bucket is past the margin and goes the same way (7,000 rows: two ticks); the open one stays spread
    clock.advance(60_000);
    for (let tick = 0; tick < 2; tick++) await s.apps[1].app.get(ApprovalFolding).foldNow();
    expect((await sums()).map((r) => r.rows)).toEqual([1000, 1000, 1000, 8000]);
    expect((await sums()).map((r) => r.started)).toEqual([36_000, 36_000, 36_000, 36_000]);

    // a start that commits into a bucket already summed (a slow transaction, a clock behind) is added at the next fold
    await s.db.query(`INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started) VALUES ('prefix', '81710007', $1, 5, 3)`, [buckets[0]]);
    await s.apps[0].app.get(ApprovalFolding).foldNow();
    expect(await sums()).toEqual([
      { bucket: buckets[0], rows: 1000, started: 36_003, verified: 2000 },
      { bucket: buckets[1], rows: 1000, started: 36_000, verified: 2000 },
      { bucket: buckets[2], rows: 1000, started: 36_000, verified: 2000 },
      { bucket: buckets[3], rows: 8000, started: 36_000, verified: 2000 },
    ]);
  });

  it('a failing shard collapse does not hold up the approvals: they are folded, and the shard rows wait for the next tick', async () => {
    clock.set('2026-12-01T03:00:30Z');
    const closed = new Date('2026-12-01T02:40:00Z');
    await s.db.query(`INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started) SELECT 'prefix', '81720001', $1, sh, 1 FROM generate_series(0, 7) sh`, [closed]);
    for (let i = 0; i < 2; i++) await verify('81705557');
    // the collapse's statement fails (a trigger raises on deleting a shard row); nothing else deletes them here
    await s.db.query(`CREATE FUNCTION fail_collapse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'collapse refused'; END $$`);
    await s.db.query(`CREATE TRIGGER fail_collapse BEFORE DELETE ON risk_unit_counts FOR EACH ROW WHEN (OLD.shard > 0) EXECUTE FUNCTION fail_collapse()`);
    const shardRows = async () => Number((await s.db.query<{ n: string }>(`SELECT count(*) AS n FROM risk_unit_counts WHERE unit = '81720001'`))[0].n);
    try {
      expect(await s.apps[0].app.get(ApprovalFolding).foldNow()).toBe(2);
      expect(await waiting()).toBe(0);
      expect(await shardRows()).toBe(8);
    } finally {
      await s.db.query(`DROP TRIGGER fail_collapse ON risk_unit_counts`);
      await s.db.query(`DROP FUNCTION fail_collapse()`);
    }
    // the next ticks take them (behind the previous test's open bucket, closed since: 7,000 rows)
    for (let tick = 0; tick < 3; tick++) expect(await s.apps[0].app.get(ApprovalFolding).foldNow()).toBe(0);
    expect(await shardRows()).toBe(1);
    expect(await s.db.query(`SELECT sum(started)::int AS started FROM risk_unit_counts WHERE unit = '81720001'`)).toEqual([{ started: 8 }]);
  });

  it('starts counting into the rows the fold and the collapse write never deadlock with them: all take the rows in one order', async () => {
    // 04:05:30: the 04:00 bucket is open (the approvals fold into its shard 0 rows), 03:50 is closed past the margin
    clock.set('2026-12-01T04:05:30Z');
    const now = clock.now();
    const late = new Date('2026-12-01T03:55:00Z'); // a start whose transaction read the time before 04:00 (or a clock behind)
    const prefixes = Array.from({ length: 100 }, (_, i) => `8173${String(i).padStart(4, '0')}`);
    const tx = s.apps[0].app.get(Transactions);
    const repo = s.apps[0].app.get(RiskSignalsRepository);
    const errors: unknown[] = [];
    let starts = 0;
    let lateStarts = 0;
    let approvals = 0;
    let seeded = 0;
    // shard rows of the closed 03:50 bucket for the collapse to sum (7 shards of each prefix and of JP)
    const seedShards = async () => {
      await s.db.query(
        `INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started)
         SELECT 'prefix', p, '2026-12-01T03:50:00Z'::timestamptz, sh, 1 FROM unnest($1::text[]) p, generate_series(1, 7) sh
         UNION ALL SELECT 'country', 'JP', '2026-12-01T03:50:00Z'::timestamptz, sh, 1 FROM generate_series(1, 7) sh
         ON CONFLICT (kind, unit, bucket, shard) DO UPDATE SET started = risk_unit_counts.started + 1`,
        [prefixes],
      );
      seeded++;
    };
    // every start in shard 0, the row the fold and the collapse write; a start takes its prefix's row, then its country's
    const random = jest.spyOn(Math, 'random').mockReturnValue(0);
    try {
      for (let round = 0; round < 4; round++) {
        await s.db.query(
          `INSERT INTO risk_approvals (verification_id, prefix, country, approved_at)
           SELECT 'vrf_dl_' || $1 || '_' || i, ($2::text[])[1 + i % 100], 'JP', $3 FROM generate_series(0, 399) i`,
          [round, prefixes, now],
        );
        approvals += 400;
        const worker = async (w: number, at: Date) => {
          for (let i = 0; i < 25; i++) {
            const units = [
              { kind: 'prefix' as const, value: prefixes[(w * 37 + i * 13) % 100] },
              { kind: 'country' as const, value: 'JP' },
            ];
            try {
              await tx.run(async (t) => repo.countStart(t, units, at));
              if (at === now) starts++;
              else lateStarts++;
            } catch (err) {
              errors.push(err);
            }
          }
        };
        // the collapse runs over and over while the late starts write the closed bucket's shard 0 rows it writes
        let lateDone = false;
        const collapser = async () => {
          do {
            await seedShards();
            await tx.run((t) => repo.collapseShards(t, now, 100_000)).catch((err: unknown) => errors.push(err));
          } while (!lateDone);
        };
        await Promise.all([
          ...Array.from({ length: 6 }, (_, w) => worker(w, now)),
          Promise.all(Array.from({ length: 4 }, (_, w) => worker(w + 6, late))).then(() => (lateDone = true)),
          s.apps[0].app.get(ApprovalFolding).foldNow().catch((err: unknown) => errors.push(err)),
          collapser(),
        ]);
      }
    } finally {
      random.mockRestore();
    }
    expect(errors.map((e) => String(e))).toEqual([]);
    await s.apps[0].app.get(ApprovalFolding).foldNow();
    // every start and approval counted once
    const sums = await s.db.query<{ bucket: Date; started: number; verified: number }>(
      `SELECT bucket, sum(started)::int AS started, sum(verified)::int AS verified FROM risk_unit_counts
        WHERE kind = 'country' AND unit = 'JP' AND bucket >= '2026-12-01T03:50:00Z' GROUP BY bucket ORDER BY bucket`,
    );
    expect(sums).toEqual([
      { bucket: new Date('2026-12-01T03:50:00Z'), started: seeded * 7 + lateStarts, verified: 0 },
      { bucket: new Date('2026-12-01T04:00:00Z'), started: starts, verified: approvals },
    ]);
    expect(starts).toBe(4 * 6 * 25);
    expect(lateStarts).toBe(4 * 4 * 25);
    expect(seeded).toBeGreaterThan(4);
  });

  it('reverting the migration folds the approvals still waiting, then drops the table', async () => {
    const db = await createTestDatabase();
    const ds = new DataSource(dataSourceOptions(db.url, 2));
    try {
      await ds.initialize();
      await ds.runMigrations();
      await ds.query(`INSERT INTO risk_approvals VALUES ('vrf_a', '81901234', 'JP', '2026-12-01T23:59:00Z'), ('vrf_b', '81901234', 'JP', '2026-12-02T00:01:00Z')`);
      // back through this migration (later ones first)
      const at = migrations.findIndex((m) => m.name === 'RiskApprovals1765800000000');
      expect(at).toBeGreaterThan(0);
      for (let i = migrations.length - 1; i >= at; i--) await ds.undoLastMigration();
      expect(await ds.query(`SELECT to_regclass('risk_approvals') AS t`)).toEqual([{ t: null }]);
      expect(await ds.query(`SELECT kind, unit, to_char(day, 'YYYY-MM-DD') AS day, verified, verified_hours[1] AS h0, verified_hours[24] AS h23 FROM risk_unit_days ORDER BY 1, 3`)).toEqual([
        { kind: 'country', unit: 'JP', day: '2026-12-01', verified: 1, h0: 0, h23: 1 },
        { kind: 'country', unit: 'JP', day: '2026-12-02', verified: 1, h0: 1, h23: 0 },
        { kind: 'prefix', unit: '81901234', day: '2026-12-01', verified: 1, h0: 0, h23: 1 },
        { kind: 'prefix', unit: '81901234', day: '2026-12-02', verified: 1, h0: 1, h23: 0 },
      ]);
      expect(await ds.query(`SELECT sum(verified)::int AS n FROM risk_unit_counts`)).toEqual([{ n: 4 }]);
      await ds.runMigrations();
    } finally {
      await ds.destroy().catch(() => undefined);
      await db.drop();
    }
  });
});
