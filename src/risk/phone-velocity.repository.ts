import { Injectable } from '@nestjs/common';
import { SqlParams } from '../common/sql';
import type { Queryable, Tx } from '../common/tx';
import { PruneCursor } from '../database/housekeeping';

const HOUR_MS = 3600_000;

/** A number's sends within 24 h and wrong codes within the hour, newest first (what a start is judged by). */
export interface RecentPhoneActivity {
  sends: Date[];
  failures: Date[];
}

/**
 * The start's per-number read as two select-list columns, `sends` and
 * `failures`: a fragment so that the start's combined read (RiskSignalsRepository.startState) runs the same SQL.
 */
export function recentPhoneActivitySql(p: SqlParams['p'], phone: string, now: Date, sendLimit: number, failureLimit: number): string {
  const number = p(phone);
  return `ARRAY(SELECT sent_at FROM phone_sends WHERE phone_e164 = ${number} AND sent_at > ${p(new Date(now.getTime() - 24 * 3600_000))} ORDER BY sent_at DESC LIMIT ${p(sendLimit)}) AS sends,
          ARRAY(SELECT failed_at FROM phone_check_failures WHERE phone_e164 = ${number} AND failed_at > ${p(new Date(now.getTime() - 3600_000))} ORDER BY failed_at DESC LIMIT ${p(failureLimit)}) AS failures`;
}

export function recentPhoneActivityOf(row: { sends: Date[]; failures: Date[] }): RecentPhoneActivity {
  return { sends: row.sends.map((d) => new Date(d)), failures: row.failures.map((d) => new Date(d)) };
}

/** All SQL on `phone_sends` and `phone_check_failures` (per-number velocity counters; the start's read also as a fragment: recentPhoneActivitySql). */
@Injectable()
export class PhoneVelocityRepository {
  /**
   * Serializes work on one number until the transaction ends, so that concurrent requests cannot both pass a
   * count; and on the other units of `more` (sorted, after the number: one order for everyone, so no deadlock).
   * `genericPlans`: the rest of the transaction runs its prepared statements with their generic plans
   * (plan_cache_mode, transaction-local, set in the same statement). The start's read after its locks
   * (RiskSignalsRepository.startState) costs PostgreSQL about 1 ms to plan for each start's values and 0.06 ms as its
   * generic plan, which executes as fast (every condition is an equality or range on a key), yet the plan cache
   * keeps choosing the custom plan by its estimates.
   */
  async lock(tx: Tx, phone: string, more: string[] = [], opts: { genericPlans?: boolean } = {}): Promise<void> {
    const generic = opts.genericPlans ? `set_config('plan_cache_mode', 'force_generic_plan', true), ` : '';
    if (!more.length) {
      await tx.query(`SELECT ${generic}pg_advisory_xact_lock(hashtextextended($1, 7))`, [`phone:${phone}`]);
      return;
    }
    await tx.query(`SELECT ${generic}pg_advisory_xact_lock(hashtextextended(k, 7)) FROM unnest($1::text[]) AS k`, [[`phone:${phone}`, ...[...new Set(more)].sort()]]);
  }

  /** Sends within 24 h, newest first, at most `limit`. */
  async recentSends(tx: Tx, phone: string, now: Date, limit: number): Promise<Date[]> {
    const rows: Array<{ sent_at: Date }> = await tx.query(
      `SELECT sent_at FROM phone_sends WHERE phone_e164 = $1 AND sent_at > $2 ORDER BY sent_at DESC LIMIT $3`,
      [phone, new Date(now.getTime() - 24 * 3600_000), limit],
    );
    return rows.map((r) => r.sent_at);
  }

  /** Wrong codes within the hour, newest first, at most `limit`. */
  async recentFailures(tx: Tx, phone: string, now: Date, limit: number): Promise<Date[]> {
    const rows: Array<{ failed_at: Date }> = await tx.query(
      `SELECT failed_at FROM phone_check_failures WHERE phone_e164 = $1 AND failed_at > $2 ORDER BY failed_at DESC LIMIT $3`,
      [phone, new Date(now.getTime() - 3600_000), limit],
    );
    return rows.map((r) => r.failed_at);
  }

  /**
   * Housekeeping: deletes at most `limit` sends older than 25 h and `limit` wrong codes older than 2 h (the rules
   * read 24 h and 1 h back; an hour of margin), through the time indexes; answers how many went, per table.
   */
  async pruneExpired(q: Queryable, now: Date, limit: number, cursor = new PruneCursor()): Promise<Record<string, number>> {
    const t = now.getTime();
    return {
      phone_sends: await cursor.deleteOldest(q, 'phone_sends', 'sent_at', new Date(t - 25 * HOUR_MS), limit),
      phone_check_failures: await cursor.deleteOldest(q, 'phone_check_failures', 'failed_at', new Date(t - 2 * HOUR_MS), limit),
    };
  }

  recordSend(tx: Tx, phone: string, verificationId: string, now: Date): void {
    tx.defer((p) => `INSERT INTO phone_sends (phone_e164, sent_at, verification_id) VALUES (${p(phone)}, ${p(now)}, ${p(verificationId)})`);
  }

  recordCheckFailure(tx: Tx, phone: string, verificationId: string, now: Date): void {
    tx.defer((p) => `INSERT INTO phone_check_failures (phone_e164, failed_at, verification_id) VALUES (${p(phone)}, ${p(now)}, ${p(verificationId)})`);
  }
}
