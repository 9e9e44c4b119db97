import { Injectable } from '@nestjs/common';
import { ProblemException } from '../common/problem';
import type { Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { PhoneVelocityRepository, RecentPhoneActivity } from './phone-velocity.repository';

const MIN = 60_000;
const HOUR = 60 * MIN;

export function tooMany(detail: string, limit: string, retryAfterMs: number): ProblemException {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ProblemException(429, 'rate_limited', `${detail} Retry after ${seconds} s.`, { limit, headers: { 'Retry-After': String(seconds) } });
}

/**
 * The first velocity rules: limits per phone number, across every client and instance (state in
 * PostgreSQL). Each runs inside the caller's transaction after the number's lock, so that concurrent
 * requests cannot both pass a count.
 */
@Injectable()
export class PhoneVelocity {
  constructor(
    private readonly config: AppConfig,
    private readonly repo: PhoneVelocityRepository,
  ) {}

  /** How much of the number's recent activity a start reads (RiskSignalsRepository.startState): enough for each limit. */
  startReadLimits(): { sendLimit: number; failureLimit: number } {
    const { phoneSendsPer15Min: per15, phoneSendsPer24H: per24, phoneCheckFailuresPerHour: maxFailures } = this.config.risk;
    return { sendLimit: Math.max(per15, per24), failureLimit: maxFailures };
  }

  /**
   * A new verification, on the number's sends and recent wrong codes as read after its lock (RiskService reads
   * them with the start's other state in one statement): too many wrong codes, then too many sends (429).
   */
  assertStartFits(recent: RecentPhoneActivity, now: Date): void {
    this.checkFailures(recent.failures, now);
    this.checkSends(recent.sends, now);
  }

  /** At most PHONE_SENDS_PER_15_MIN codes per 15 minutes and PHONE_SENDS_PER_24_H per day to one number. */
  async assertCanSend(tx: Tx, phone: string, now: Date): Promise<void> {
    const { phoneSendsPer15Min: per15, phoneSendsPer24H: per24 } = this.config.risk;
    await this.repo.lock(tx, phone);
    this.checkSends(await this.repo.recentSends(tx, phone, now, Math.max(per15, per24)), now);
  }

  /**
   * A check: after PHONE_CHECK_FAILURES_PER_HOUR wrong codes for the number, across all its verifications
   * and clients, no code is checked (right or wrong) until the oldest of them leaves the hour.
   */
  async assertCanCheck(tx: Tx, phone: string, now: Date): Promise<void> {
    await this.repo.lock(tx, phone);
    this.checkFailures(await this.repo.recentFailures(tx, phone, now, this.config.risk.phoneCheckFailuresPerHour), now);
  }

  /** `sent` newest first, within the last 24 hours. */
  private checkSends(sent: Date[], now: Date): void {
    const { phoneSendsPer15Min: per15, phoneSendsPer24H: per24 } = this.config.risk;
    const t = now.getTime();
    const in15 = sent.filter((d) => d.getTime() > t - 15 * MIN);
    if (in15.length >= per15) {
      throw tooMany(`Too many codes sent to this number: at most ${per15} per 15 minutes.`, 'phone_sends_15m', in15[per15 - 1].getTime() + 15 * MIN - t);
    }
    if (sent.length >= per24) {
      throw tooMany(`Too many codes sent to this number: at most ${per24} per 24 hours.`, 'phone_sends_24h', sent[per24 - 1].getTime() + 24 * HOUR - t);
    }
  }

  /** After PHONE_CHECK_FAILURES_PER_HOUR wrong codes for a number (`failed` newest first), new verifications wait. */
  private checkFailures(failed: Date[], now: Date): void {
    const limit = this.config.risk.phoneCheckFailuresPerHour;
    if (failed.length >= limit) {
      throw tooMany(`Too many wrong codes for this number: at most ${limit} per hour.`, 'phone_check_failures', failed[limit - 1].getTime() + HOUR - now.getTime());
    }
  }
}
