import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { ProblemException } from '../common/problem';
import { SqlParams } from '../common/sql';
import { AppConfig } from '../config/app-config';

const MIN = 60_000;
const HOUR = 60 * MIN;

function tooMany(detail: string, limit: string, retryAfterMs: number): ProblemException {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ProblemException(429, 'rate_limited', `${detail} Retry after ${seconds} s.`, { limit, headers: { 'Retry-After': String(seconds) } });
}

/**
 * Limits per phone number, across every client and instance (state in PostgreSQL). Callers run these
 * inside their transaction after `lock()`, which serializes work on one number so that concurrent
 * requests cannot both pass a count.
 */
@Injectable()
export class PhoneLimits {
  constructor(private readonly config: AppConfig) {}

  async lock(m: EntityManager, phone: string): Promise<void> {
    await m.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, [`phone:${phone}`]);
  }

  /** Both limits of a new verification in one round trip: sends to the number, and its recent wrong codes. */
  async assertCanStart(m: EntityManager, phone: string, now: Date): Promise<void> {
    const { phoneSendsPer15Min: per15, phoneSendsPer24H: per24, phoneCheckFailuresPerHour: maxFailures } = this.config.otp;
    const [row]: Array<{ sends: Date[]; failures: Date[] }> = await m.query(
      `SELECT ARRAY(SELECT sent_at FROM phone_sends WHERE phone_e164 = $1 AND sent_at > $2 ORDER BY sent_at DESC LIMIT $3) AS sends,
              ARRAY(SELECT failed_at FROM phone_check_failures WHERE phone_e164 = $1 AND failed_at > $4 ORDER BY failed_at DESC LIMIT $5) AS failures`,
      [phone, new Date(now.getTime() - 24 * HOUR), Math.max(per15, per24), new Date(now.getTime() - HOUR), maxFailures],
    );
    this.checkFailures(row.failures.map((d) => new Date(d)), now);
    this.checkSends(row.sends.map((d) => new Date(d)), now);
  }

  /** At most PHONE_SENDS_PER_15_MIN codes per 15 minutes and PHONE_SENDS_PER_24_H per day to one number. */
  async assertCanSend(m: EntityManager, phone: string, now: Date): Promise<void> {
    const { phoneSendsPer15Min: per15, phoneSendsPer24H: per24 } = this.config.otp;
    const rows: Array<{ sent_at: Date }> = await m.query(
      `SELECT sent_at FROM phone_sends WHERE phone_e164 = $1 AND sent_at > $2 ORDER BY sent_at DESC LIMIT $3`,
      [phone, new Date(now.getTime() - 24 * HOUR), Math.max(per15, per24)],
    );
    this.checkSends(rows.map((r) => r.sent_at), now);
  }

  /** `sent` newest first, within the last 24 hours. */
  private checkSends(sent: Date[], now: Date): void {
    const { phoneSendsPer15Min: per15, phoneSendsPer24H: per24 } = this.config.otp;
    const t = now.getTime();
    const in15 = sent.filter((d) => d.getTime() > t - 15 * MIN);
    if (in15.length >= per15) {
      throw tooMany(`Too many codes sent to this number: at most ${per15} per 15 minutes.`, 'phone_sends_15m', in15[per15 - 1].getTime() + 15 * MIN - t);
    }
    if (sent.length >= per24) {
      throw tooMany(`Too many codes sent to this number: at most ${per24} per 24 hours.`, 'phone_sends_24h', sent[per24 - 1].getTime() + 24 * HOUR - t);
    }
  }

  /** The INSERT that counts one code sent to the number, to run within a larger statement. */
  recordSendSql(phone: string, verificationId: string, now: Date, p: SqlParams['p']): string {
    return `INSERT INTO phone_sends (phone_e164, sent_at, verification_id) VALUES (${p(phone)}, ${p(now)}, ${p(verificationId)})`;
  }

  /** After PHONE_CHECK_FAILURES_PER_HOUR wrong codes for a number (`failed` newest first), new verifications wait. */
  private checkFailures(failed: Date[], now: Date): void {
    const limit = this.config.otp.phoneCheckFailuresPerHour;
    if (failed.length >= limit) {
      throw tooMany(`Too many wrong codes for this number: at most ${limit} per hour.`, 'phone_check_failures', failed[limit - 1].getTime() + HOUR - now.getTime());
    }
  }
}
