import { Injectable } from '@nestjs/common';
import type { Queryable, Tx } from '../common/tx';

const HOUR_MS = 3600_000;

/** All SQL on `phone_sends` and `phone_check_failures` (per-number velocity counters). */
@Injectable()
export class PhoneVelocityRepository {
  /**
   * Serializes work on one number until the transaction ends, so that concurrent requests cannot both pass a
   * count; and on the other units of `more` (sorted, after the number: one order for everyone, so no deadlock).
   */
  async lock(tx: Tx, phone: string, more: string[] = []): Promise<void> {
    if (!more.length) {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, [`phone:${phone}`]);
      return;
    }
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended(k, 7)) FROM unnest($1::text[]) AS k`, [[`phone:${phone}`, ...[...new Set(more)].sort()]]);
  }

  /** Sends within 24 h (newest first, at most `sendLimit`) and wrong codes within the hour (at most `failureLimit`), in one round trip. */
  async recent(tx: Tx, phone: string, now: Date, sendLimit: number, failureLimit: number): Promise<{ sends: Date[]; failures: Date[] }> {
    const [row]: Array<{ sends: Date[]; failures: Date[] }> = await tx.query(
      `SELECT ARRAY(SELECT sent_at FROM phone_sends WHERE phone_e164 = $1 AND sent_at > $2 ORDER BY sent_at DESC LIMIT $3) AS sends,
              ARRAY(SELECT failed_at FROM phone_check_failures WHERE phone_e164 = $1 AND failed_at > $4 ORDER BY failed_at DESC LIMIT $5) AS failures`,
      [phone, new Date(now.getTime() - 24 * 3600_000), sendLimit, new Date(now.getTime() - 3600_000), failureLimit],
    );
    return { sends: row.sends.map((d) => new Date(d)), failures: row.failures.map((d) => new Date(d)) };
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
  async pruneExpired(q: Queryable, now: Date, limit: number): Promise<Record<string, number>> {
    const t = now.getTime();
    const [, sends]: [unknown, number] = await q.query(
      `DELETE FROM phone_sends WHERE ctid = ANY(ARRAY(SELECT ctid FROM phone_sends WHERE sent_at < $1 LIMIT $2))`,
      [new Date(t - 25 * HOUR_MS), limit],
    );
    const [, failures]: [unknown, number] = await q.query(
      `DELETE FROM phone_check_failures WHERE ctid = ANY(ARRAY(SELECT ctid FROM phone_check_failures WHERE failed_at < $1 LIMIT $2))`,
      [new Date(t - 2 * HOUR_MS), limit],
    );
    return { phone_sends: sends, phone_check_failures: failures };
  }

  recordSend(tx: Tx, phone: string, verificationId: string, now: Date): void {
    tx.defer((p) => `INSERT INTO phone_sends (phone_e164, sent_at, verification_id) VALUES (${p(phone)}, ${p(now)}, ${p(verificationId)})`);
  }

  recordCheckFailure(tx: Tx, phone: string, verificationId: string, now: Date): void {
    tx.defer((p) => `INSERT INTO phone_check_failures (phone_e164, failed_at, verification_id) VALUES (${p(phone)}, ${p(now)}, ${p(verificationId)})`);
  }
}
