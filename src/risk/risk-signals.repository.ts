import { Injectable } from '@nestjs/common';
import { SqlParams } from '../common/sql';
import type { Queryable, Tx } from '../common/tx';
import { BlocklistHit, blocklistHitsSql } from './blocklist.repository';
import { RecentPhoneActivity, recentPhoneActivityOf, recentPhoneActivitySql } from './phone-velocity.repository';
import { BUCKET_MS, bucketOf, BucketCount, DAY_MS, HOUR_MS, NumberAccounts, PumpingFigures, Unit, UnitKind } from './velocity-rules';

const BUCKET_S = BUCKET_MS / 1000;

/**
 * Shard rows per counter key of the units every start to a country or prefix shares (`prefix`, `country`): a
 * start writes one shard row, chosen at random, and reads sum the shards, so concurrent starts no longer queue on
 * one row lock until commit. End-user units and the client (few writers each, or serialized by their velocity lock
 * anyway) keep shard 0, so their reads stay one row per bucket; so do the verified counts (one folder writes them:
 * foldApprovalsSql).
 */
export const COUNTER_SHARDS = 8;
/** A day's verified codes hour by hour, its shards summed (the 24 sums of risk_unit_days.verified_hours[h]). */
const HOURS_SUMMED = Array.from({ length: 24 }, (_, h) => `sum(ds.verified_hours[${h + 1}])`).join(', ');
const SHARDED: readonly UnitKind[] = ['prefix', 'country'];

/** The shard each unit's row is written to by one transaction. */
function shardsOf(units: Unit[]): number[] {
  const shard = Math.floor(Math.random() * COUNTER_SHARDS);
  return units.map((u) => (SHARDED.includes(u.kind) ? shard : 0));
}

/** An active suspension of a unit (not released, not expired). */
export interface ActiveSuspension {
  id: string;
  mode: 'enforce' | 'record_only' | 'report';
}

/** What screening reads of one unit. */
export interface UnitState extends PumpingFigures {
  kind: UnitKind;
  unit: string;
  active: ActiveSuspension[];
  /** Starts per bucket in the last hour (velocity). */
  hour: BucketCount[];
}

interface UnitRow {
  kind: UnitKind;
  unit: string;
  active: ActiveSuspension[];
  hour: Array<[number, number]>;
  s24: number;
  v24: number;
  s1: number;
  v1: number;
  vall24: number;
  vall1: number;
  max_daily: number;
  max_hourly: number;
}

/** The end-user signals of one start, as stored (hashes only). */
export interface EndUserRecord {
  ip: string | null;
  deviceHash: string | null;
  accountRefHash: Buffer | null;
}

/** Who a screening read is for: the number, the client and the start's account reference (hashed). */
export interface ScreeningWho {
  phone: string;
  clientId: string;
  accountRefHash: Buffer | null;
}

export interface ScreeningState {
  units: UnitState[];
  accounts: NumberAccounts;
}

/** What a start's combined read (startState) is about. */
export interface StartStateQuery {
  who: ScreeningWho;
  /** The number's prefixes a blocklist prefix entry can hold (prefixesOf). */
  prefixes: string[];
  sendLimit: number;
  failureLimit: number;
  units: Unit[];
  accountsWindowMs: number;
}

export interface StartState extends ScreeningState {
  blocklist: BlocklistHit[];
  phone: RecentPhoneActivity;
}

/**
 * Everything the velocity, pumping and many-accounts rules need for one start, as two select-list columns of the
 * start's combined read (`units` and `accounts`, parsed by screeningStateOf; `p` binds the values): per unit its
 * active suspensions and the end of its last one, its counts in the last hour and day (since that end for the
 * pumping figures), its 14-day maxima of verified codes; and the number's verified accounts in the window.
 * Every read is a range of a primary key or index; `verifications` is never read. The shard rows of a bucket
 * (or day, hour by hour) are summed before anything is judged.
 *
 * "Since that end": from the 10-minute bucket in which the suspension ended (its starts were denied, so that
 * bucket holds little from before the end), but never the bucket in which it was made (those are the starts
 * that tripped it): a suspension released moments after it was made counts afresh from the next bucket.
 */
function screeningStateSql(p: SqlParams['p'], units: Unit[], who: ScreeningWho, now: Date, accountsWindowMs: number): string {
  const t = now.getTime();
  const at = p(now);
  const hourAgo = p(new Date(t - HOUR_MS));
  const dayAgo = p(new Date(t - DAY_MS));
  const client = p(who.clientId);
  return `(SELECT coalesce(json_agg(json_build_object(
                   'kind', u.kind, 'unit', u.unit, 'active', s.active, 'hour', c.hour, 's24', c.s24, 'v24', c.v24, 's1', c.s1, 'v1', c.v1,
                   'vall24', c.vall24, 'vall1', c.vall1, 'max_daily', d.max_daily, 'max_hourly', d.max_hourly) ORDER BY u.ord), '[]'::json)
            FROM unnest(${p(units.map((u) => u.kind))}::text[], ${p(units.map((u) => u.value))}::text[]) WITH ORDINALITY AS u(kind, unit, ord)
            CROSS JOIN LATERAL (
              SELECT coalesce(json_agg(json_build_object('id', x.id, 'mode', x.mode) ORDER BY x.created_at)
                       FILTER (WHERE x.released_at IS NULL AND x.expires_at > ${at}), '[]'::json) AS active,
                     coalesce(max(greatest(
                       to_timestamp(floor(extract(epoch FROM coalesce(x.released_at, x.expires_at)) / ${BUCKET_S}) * ${BUCKET_S}),
                       to_timestamp(floor(extract(epoch FROM x.created_at) / ${BUCKET_S}) * ${BUCKET_S} + ${BUCKET_S})))
                       FILTER (WHERE coalesce(x.released_at, x.expires_at) <= ${at}), '-infinity') AS since
                FROM risk_suspensions x
               WHERE x.kind = u.kind AND x.unit = u.unit AND x.expires_at > ${dayAgo}
            ) s
            CROSS JOIN LATERAL (
              SELECT coalesce(json_agg(json_build_array((extract(epoch FROM r.bucket) * 1000)::bigint, r.started) ORDER BY r.bucket)
                       FILTER (WHERE r.bucket > ${hourAgo}), '[]'::json) AS hour,
                     coalesce(sum(r.started) FILTER (WHERE r.bucket >= s.since), 0)::int AS s24,
                     coalesce(sum(r.verified) FILTER (WHERE r.bucket >= s.since), 0)::int AS v24,
                     coalesce(sum(r.started) FILTER (WHERE r.bucket > ${hourAgo} AND r.bucket >= s.since), 0)::int AS s1,
                     coalesce(sum(r.verified) FILTER (WHERE r.bucket > ${hourAgo} AND r.bucket >= s.since), 0)::int AS v1,
                     coalesce(sum(r.verified), 0)::int AS vall24,
                     coalesce(sum(r.verified) FILTER (WHERE r.bucket > ${hourAgo}), 0)::int AS vall1
                FROM (SELECT b.bucket, sum(b.started) AS started, sum(b.verified) AS verified
                        FROM risk_unit_counts b
                       WHERE b.kind = u.kind AND b.unit = u.unit AND b.bucket > ${dayAgo}
                       GROUP BY b.bucket) r
            ) c
            CROSS JOIN LATERAL (
              SELECT coalesce(max(dd.verified), 0)::int AS max_daily, coalesce(max(dd.peak), 0)::int AS max_hourly
                FROM (SELECT sum(ds.verified) AS verified, greatest(${HOURS_SUMMED}) AS peak
                        FROM risk_unit_days ds
                       WHERE ds.kind = u.kind AND ds.unit = u.unit AND ds.day > ${p(utcDay(t - 14 * DAY_MS))}::date
                       GROUP BY ds.day) dd
            ) d
         ) AS units,
         (SELECT json_build_object(
                   'accounts', count(DISTINCT n.client_id || ':' || encode(n.account_ref_hash, 'hex')) FILTER (WHERE n.account_ref_hash <> ''::bytea),
                   'clients', count(DISTINCT n.client_id),
                   'sameAccount', coalesce(bool_or(n.client_id = ${client} AND n.account_ref_hash = ${p(who.accountRefHash)}::bytea), false),
                   'sameClient', coalesce(bool_or(n.client_id = ${client}), false))
            FROM risk_number_accounts n
           WHERE n.phone_e164 = ${p(who.phone)} AND n.verified_at > ${p(new Date(t - accountsWindowMs))}
         ) AS accounts`;
}

function screeningStateOf(row: { units: UnitRow[]; accounts: NumberAccounts }): ScreeningState {
  return {
    units: row.units.map((r) => ({
      kind: r.kind,
      unit: r.unit,
      active: r.active,
      hour: r.hour.map(([at, started]) => ({ at: Number(at), started })),
      started24h: r.s24,
      verified24h: r.v24,
      started1h: r.s1,
      verified1h: r.v1,
      verifiedLast24h: r.vall24,
      verifiedLastHour: r.vall1,
      maxDailyVerified14d: r.max_daily,
      maxHourlyVerified14d: r.max_hourly,
    })),
    accounts: row.accounts,
  };
}

/**
 * All SQL on the velocity and pumping counters (`risk_unit_counts`, `risk_unit_days`), the end-user signals of
 * starts (`risk_end_users`) and the numbers' verified accounts (`risk_number_accounts`), and the start's one
 * read of them (with the units' suspensions, the blocklist and the per-number counts: startState). Writes are deferred: they join the transaction's combined
 * statement, so counting costs no round trip.
 */
@Injectable()
export class RiskSignalsRepository {
  /**
   * Everything a start is judged by after its locks, in one statement (one round trip on the hot path; ARCHITECTURE.md
   * lets a hot path keep one combined statement in one repository method): the blocklist entries that block the
   * number (blocklistHitsSql, `blocklist`), its sends and wrong codes (recentPhoneActivitySql, `phone_sends` and
   * `phone_check_failures`) and its units and accounts (screeningStateSql). Run after the locks, in its own
   * statement: in READ COMMITTED a statement sees what committed before it started, so it sees every start that
   * held a lock it waited for.
   */
  async startState(tx: Tx, q: StartStateQuery, now: Date): Promise<StartState> {
    const params = new SqlParams();
    const p = params.p;
    const [row]: Array<{ blocklist: BlocklistHit[]; sends: Date[]; failures: Date[]; units: UnitRow[]; accounts: NumberAccounts }> = await tx.query(
      `SELECT ${blocklistHitsSql(p, q.who.phone, q.prefixes, now)} AS blocklist,
              ${recentPhoneActivitySql(p, q.who.phone, now, q.sendLimit, q.failureLimit)},
              ${screeningStateSql(p, q.units, q.who, now, q.accountsWindowMs)}`,
      params.values,
    );
    return { blocklist: row.blocklist, phone: recentPhoneActivityOf(row), ...screeningStateOf(row) };
  }

  /**
   * One start, counted for each of its units in the current 10-minute bucket (a prefix or country in one of its shards).
   * Its rows are taken in (kind, unit) order, as the fold and the collapse take theirs (ORDER BY in foldApprovalsSql and
   * collapseShardsSql): a start in shard 0 writes rows they write too, and two writers taking them in different orders
   * deadlock (PostgreSQL then fails one of them after deadlock_timeout).
   */
  countStart(tx: Tx, units: Unit[], at: Date): void {
    if (!units.length) return;
    tx.defer(
      (p) => `INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started)
              SELECT k, v, ${p(new Date(bucketOf(at.getTime())))}::timestamptz, s, 1
                FROM unnest(${p(units.map((u) => u.kind))}::text[], ${p(units.map((u) => u.value))}::text[], ${p(shardsOf(units))}::smallint[]) AS x(k, v, s)
               ORDER BY k, v
              ON CONFLICT (kind, unit, bucket, shard) DO UPDATE SET started = risk_unit_counts.started + 1`,
    );
  }

  /** The end-user signals of a start, so that its approval counts for its IP and account. */
  recordEndUser(tx: Tx, verificationId: string, signals: EndUserRecord, at: Date): void {
    tx.defer(
      (p) => `INSERT INTO risk_end_users (verification_id, ip, device_hash, account_ref_hash, created_at)
              VALUES (${p(verificationId)}, ${p(signals.ip)}, ${p(signals.deviceHash)}, ${p(signals.accountRefHash)}, ${p(at)})`,
    );
  }

  /**
   * A verified code: appended to `risk_approvals` (its prefix and country), folded into the unit counters by
   * foldApprovals within a second (ApprovalFolding); the number's account (the start's account reference, or none)
   * is marked verified now, as the many-accounts rule must see it at the number's next start.
   */
  countApproval(tx: Tx, verificationId: string, phone: string, clientId: string, units: { prefix: string; country: string | null }, at: Date): void {
    tx.defer(
      (p) => `INSERT INTO risk_approvals (verification_id, prefix, country, approved_at)
              VALUES (${p(verificationId)}, ${p(units.prefix)}, ${p(units.country)}, ${p(at)}) ON CONFLICT DO NOTHING`,
    );
    tx.defer(
      (p) => `INSERT INTO risk_number_accounts (phone_e164, client_id, account_ref_hash, verified_at)
              SELECT ${p(phone)}, ${p(clientId)},
                     coalesce((SELECT e.account_ref_hash FROM risk_end_users e WHERE e.verification_id = ${p(verificationId)}), ''::bytea), ${p(at)}::timestamptz
              ON CONFLICT (phone_e164, client_id, account_ref_hash) DO UPDATE SET verified_at = greatest(risk_number_accounts.verified_at, EXCLUDED.verified_at)`,
    );
  }

  /** Folds up to `limit` approvals into the unit counters (foldApprovalsSql); answers how many. */
  async foldApprovals(q: Queryable, limit: number): Promise<number> {
    const [{ folded }] = (await q.query(foldApprovalsSql, [limit])) as Array<{ folded: number }>;
    return folded;
  }

  /**
   * Sums up to `limit` shard rows (shard > 0) of the buckets closed by `now` into their shard 0 row
   * (collapseShardsSql, collapseShardsParams); answers how many rows it took.
   */
  async collapseShards(q: Queryable, now: Date, limit: number): Promise<number> {
    const [{ collapsed }] = (await q.query(collapseShardsSql, collapseShardsParams(now, limit))) as Array<{ collapsed: number }>;
    return collapsed;
  }

  /**
   * Drops what no rule reads any more: buckets older than a day, days older than 14, end-user signals of
   * starts older than two days, accounts verified before the many-accounts window. At most `batch` rows of each
   * table per call; answers how many went, per table. A row another transaction holds (the approvals' fold writing
   * an old bucket after a long outage, a start) is skipped, left for the next pass: pruning takes rows in no
   * particular order, so waiting for one could deadlock with a writer that takes them in (kind, unit, bucket) order.
   */
  async prune(q: Queryable, now: Date, accountsWindowMs: number, batch: number): Promise<Record<string, number>> {
    const t = now.getTime();
    const deleted = async (sql: string, before: unknown): Promise<number> => ((await q.query(sql, [before, batch])) as [unknown, number])[1];
    return {
      risk_unit_counts: await deleted(
        `DELETE FROM risk_unit_counts WHERE ctid = ANY(ARRAY(SELECT ctid FROM risk_unit_counts WHERE bucket < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`,
        new Date(t - DAY_MS - HOUR_MS),
      ),
      risk_unit_days: await deleted(`DELETE FROM risk_unit_days WHERE ctid = ANY(ARRAY(SELECT ctid FROM risk_unit_days WHERE day < $1::date LIMIT $2 FOR UPDATE SKIP LOCKED))`, utcDay(t - 15 * DAY_MS)),
      risk_end_users: await deleted(
        `DELETE FROM risk_end_users WHERE ctid = ANY(ARRAY(SELECT ctid FROM risk_end_users WHERE created_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`,
        new Date(t - 2 * DAY_MS),
      ),
      risk_number_accounts: await deleted(
        `DELETE FROM risk_number_accounts WHERE ctid = ANY(ARRAY(SELECT ctid FROM risk_number_accounts WHERE verified_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`,
        new Date(t - accountsWindowMs),
      ),
    };
  }
}

/** The UTC day of a time, as PostgreSQL reads a date (`2026-11-24`). */
function utcDay(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

/**
 * Takes up to $1 rows of `risk_approvals` (skipping rows another fold holds) and adds them, in the same statement, to
 * the verified counts of their units: the number's prefix and country, and the end-user IP its start came from
 * (risk_end_users), per 10-minute bucket (risk_unit_counts) and per UTC day with its hour (risk_unit_days), in
 * shard 0 (one folder writes them: nothing to spread). The buckets, days and hours are the ones the approval
 * happened in, as countStart's are for starts; rows in (kind, unit, bucket) order, as countStart takes its. Answers
 * `folded`, the number of approvals taken.
 */
export const foldApprovalsSql = `
  WITH d AS (
    DELETE FROM risk_approvals
     WHERE verification_id IN (SELECT verification_id FROM risk_approvals LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING verification_id, prefix, country, approved_at
  ), u AS (
    SELECT 'prefix'::text AS kind, d.prefix AS unit, d.approved_at AS at FROM d
    UNION ALL SELECT 'country', d.country, d.approved_at FROM d WHERE d.country IS NOT NULL
    UNION ALL SELECT 'ip', e.ip, d.approved_at FROM d JOIN risk_end_users e ON e.verification_id = d.verification_id WHERE e.ip IS NOT NULL
  ), b AS (
    INSERT INTO risk_unit_counts (kind, unit, bucket, shard, verified)
    SELECT kind, unit, to_timestamp(floor(extract(epoch FROM at) / ${BUCKET_S}) * ${BUCKET_S}), 0, count(*) FROM u GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (kind, unit, bucket, shard) DO UPDATE SET verified = risk_unit_counts.verified + EXCLUDED.verified
  ), h AS (
    INSERT INTO risk_unit_days (kind, unit, day, shard, verified, verified_hours)
    SELECT kind, unit, (at AT TIME ZONE 'UTC')::date, 0, count(*),
           ARRAY[${Array.from({ length: 24 }, (_, h) => `count(*) FILTER (WHERE extract(hour FROM at AT TIME ZONE 'UTC') = ${h})`).join(', ')}]::int[]
      FROM u GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (kind, unit, day, shard) DO UPDATE
      SET verified = risk_unit_days.verified + EXCLUDED.verified,
          verified_hours = ARRAY[${Array.from({ length: 24 }, (_, h) => `risk_unit_days.verified_hours[${h + 1}] + EXCLUDED.verified_hours[${h + 1}]`).join(', ')}]
  )
  SELECT count(*)::int AS folded FROM d`;

/**
 * Takes up to $3 shard rows (shard > 0, skipping rows a late start still holds) of `risk_unit_counts` buckets that
 * began from $1 and before $2 and adds them to their bucket's shard 0 row, in the same statement that deletes them:
 * the sums every read takes are the same before and after, and a day of a hot country or prefix is read from about
 * 150 rows instead of up to COUNTER_SHARDS × 144. Found through risk_unit_counts_shards_idx, which holds only the
 * shard rows not summed yet. The shard 0 rows in (kind, unit, bucket) order, as countStart takes its (a late start in
 * shard 0 writes one of them). Answers `collapsed`, the number of shard rows taken.
 */
export const collapseShardsSql = `
  WITH d AS (
    DELETE FROM risk_unit_counts
     WHERE ctid = ANY(ARRAY(SELECT ctid FROM risk_unit_counts WHERE shard > 0 AND bucket >= $1 AND bucket < $2 LIMIT $3 FOR UPDATE SKIP LOCKED))
     RETURNING kind, unit, bucket, started, verified
  ), s AS (
    INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started, verified)
    SELECT kind, unit, bucket, 0, sum(started), sum(verified) FROM d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (kind, unit, bucket, shard) DO UPDATE
      SET started = risk_unit_counts.started + EXCLUDED.started, verified = risk_unit_counts.verified + EXCLUDED.verified
  )
  SELECT count(*)::int AS collapsed FROM d`;

/**
 * A bucket's shard rows are summed once it has been closed this long: a start that read the time just before the
 * bucket ended (or an instance whose clock is a little behind) may still write to it. One that writes later still is
 * summed at the next pass; the margin only spares the collapse waiting on its row lock.
 */
const LATE_START_MARGIN_MS = 60_000;

/**
 * collapseShardsSql's values at `now`: the buckets of the last day that ended at least the margin ago (they begin
 * before the bucket the margin's start falls in). Older buckets are read by no rule and left to prune, so the two
 * never lock the same rows.
 */
export function collapseShardsParams(now: Date, limit: number): [Date, Date, number] {
  const before = bucketOf(now.getTime() - LATE_START_MARGIN_MS);
  return [new Date(before - DAY_MS), new Date(before), limit];
}
