import { Injectable } from '@nestjs/common';
import { Problems } from '../common/problem';
import type { TestScript } from '../common/test-numbers';
import type { Queryable, Tx } from '../common/tx';
import { PruneCursor } from '../database/housekeeping';
import type { RiskAssessment } from '../risk/risk.port';
import type { BoundTransaction } from './codes';
import type { VerificationStatus } from './dto/verification.view';
import type { Verification } from './verification';
import { fromGuard, OPEN_STATUSES, rowGuard } from './verification-transitions';

/** The row as stored (snake_case from SQL); it never leaves this file. */
interface VerificationRow {
  id: string;
  client_id: string;
  phone_e164: string;
  country: string | null;
  channel: 'sms' | 'voice';
  purpose: string;
  locale: 'ja' | 'en';
  status: VerificationStatus;
  code_hmac: Buffer;
  code_key_id: string;
  code_length: number;
  ttl_seconds: number;
  attempts: number;
  max_attempts: number;
  sends: number;
  max_sends: number;
  expires_at: Date;
  resend_available_at: Date;
  transaction: BoundTransaction | null;
  reference: string | null;
  callback_url: string | null;
  risk: RiskAssessment;
  created_at: Date;
  updated_at: Date;
  approved_at: Date | null;
  test: TestScript | null;
}

/**
 * The columns a verification is read with: VerificationRow's, each named (the compiler checks none is missing or extra)
 * rather than `*`, so that these statements run prepared. A statement whose result is a `*` runs unnamed
 * (src/common/sql.ts `named`), parsed and planned at every execution: that cost PostgreSQL 70–160 µs of CPU more per
 * statement here, on the start's supersede and on the check's read and update.
 */
const COLUMN_SET: Record<keyof VerificationRow, true> = {
  id: true, client_id: true, phone_e164: true, country: true, channel: true, purpose: true, locale: true, status: true, code_hmac: true,
  code_key_id: true, code_length: true, ttl_seconds: true, attempts: true, max_attempts: true, sends: true, max_sends: true, expires_at: true,
  resend_available_at: true, transaction: true, reference: true, callback_url: true, risk: true, created_at: true, updated_at: true,
  approved_at: true, test: true,
};
/** (Exported for bench/floor.js, which reads a verification as the service does.) */
export const VERIFICATION_COLUMNS = Object.keys(COLUMN_SET).join(', ');
/** The same, of the table aliased `v`. */
const V_COLUMNS = Object.keys(COLUMN_SET).map((c) => `v.${c}`).join(', ');

function toVerification(r: VerificationRow | undefined): Verification | undefined {
  if (!r) return undefined;
  return {
    id: r.id, clientId: r.client_id, phoneE164: r.phone_e164, country: r.country, channel: r.channel, purpose: r.purpose, locale: r.locale,
    status: r.status, codeHmac: r.code_hmac, codeKeyId: r.code_key_id, codeLength: r.code_length, ttlSeconds: r.ttl_seconds,
    attempts: r.attempts, maxAttempts: r.max_attempts, sends: r.sends, maxSends: r.max_sends, expiresAt: r.expires_at,
    resendAvailableAt: r.resend_available_at, transaction: r.transaction, reference: r.reference, callbackUrl: r.callback_url,
    risk: Object.assign({}, r.risk, { rules: r.risk.rules ?? [] }), createdAt: r.created_at, updatedAt: r.updated_at, approvedAt: r.approved_at,
    test: r.test ?? null,
  };
}

/**
 * All SQL on `verifications`. Status changes are guarded UPDATEs whose guard comes from the declared
 * transition table; each returns the changed row, or undefined when the guard did not hold.
 */
@Injectable()
export class VerificationsRepository {
  insert(tx: Tx, v: Verification): void {
    tx.defer(
      (p) => `INSERT INTO verifications (id, client_id, phone_e164, country, channel, purpose, locale, status, code_hmac, code_key_id, code_length,
                                          ttl_seconds, max_attempts, sends, max_sends, expires_at, resend_available_at, transaction, reference,
                                          callback_url, risk, created_at, updated_at, test)
               VALUES (${[
                 v.id, v.clientId, v.phoneE164, v.country, v.channel, v.purpose, v.locale, v.status, v.codeHmac, v.codeKeyId,
                 v.codeLength, v.ttlSeconds, v.maxAttempts, v.sends, v.maxSends, v.expiresAt, v.resendAvailableAt,
               ].map(p).join(', ')}, ${p(v.transaction ? JSON.stringify(v.transaction) : null)}::jsonb, ${p(v.reference)}, ${p(v.callbackUrl)},
                       ${p(JSON.stringify(v.risk))}::jsonb, ${p(v.createdAt)}, ${p(v.updatedAt)}, ${p(v.test ? JSON.stringify(v.test) : null)}::jsonb)`,
    );
  }

  /** The caller's own verification, or 404 (another client's id answers exactly like a missing one). */
  async findOwn(q: Queryable, id: string, clientId: string, forUpdate = false): Promise<Verification> {
    const rows: VerificationRow[] = await q.query(`SELECT ${VERIFICATION_COLUMNS} FROM verifications WHERE id = $1 AND client_id = $2${forUpdate ? ' FOR UPDATE' : ''}`, [id, clientId]);
    const found = toVerification(rows[0]);
    if (!found) throw Problems.notFound(`No verification ${id}.`);
    return found;
  }

  /** The row, locked until the transaction ends (undefined if there is none). */
  async lock(tx: Tx, id: string): Promise<Verification | undefined> {
    const rows: VerificationRow[] = await tx.query(`SELECT ${VERIFICATION_COLUMNS} FROM verifications WHERE id = $1 FOR UPDATE`, [id]);
    return toVerification(rows[0]);
  }

  /**
   * A check, decided by one UPDATE: right code → approved; wrong → attempts + 1, locked at the limit. Guarded
   * by the code version compared against, so across instances a right code approves at most once and wrong
   * codes count exactly up to the limit.
   */
  async recordCheck(tx: Tx, id: string, comparedHmac: Buffer, matched: boolean, now: Date): Promise<Verification | undefined> {
    const [[row]]: [VerificationRow[], number] = await tx.query(
      `UPDATE verifications
          SET status = CASE WHEN $3 THEN 'approved' WHEN attempts + 1 >= max_attempts THEN 'locked' ELSE 'pending' END,
              attempts = attempts + CASE WHEN $3 THEN 0 ELSE 1 END,
              approved_at = CASE WHEN $3 THEN $4::timestamptz END,
              updated_at = $4
        WHERE id = $1 AND ${rowGuard('approve', 'wrongCode')} AND expires_at > $4 AND code_hmac = $2
        RETURNING ${VERIFICATION_COLUMNS}`,
      [id, comparedHmac, matched, now],
    );
    return toVerification(row);
  }

  /** A fresh code (the attempt budget is not reset: a resend buys no new guesses). */
  async resend(
    tx: Tx,
    id: string,
    next: { codeHmac: Buffer; codeKeyId: string; channel: 'sms' | 'voice'; sends: number; expiresAt: Date; resendAvailableAt: Date },
    now: Date,
  ): Promise<Verification | undefined> {
    const [[row]]: [VerificationRow[], number] = await tx.query(
      `UPDATE verifications SET code_hmac = $2, code_key_id = $3, channel = $4, sends = $5, expires_at = $6, resend_available_at = $7, updated_at = $8
        WHERE id = $1 AND ${rowGuard('resend')} RETURNING ${VERIFICATION_COLUMNS}`,
      [id, next.codeHmac, next.codeKeyId, next.channel, next.sends, next.expiresAt, next.resendAvailableAt, now],
    );
    return toVerification(row);
  }

  async cancel(tx: Tx, id: string, now: Date): Promise<Verification | undefined> {
    const [[row]]: [VerificationRow[], number] = await tx.query(`UPDATE verifications SET status = 'canceled', updated_at = $2 WHERE id = $1 AND ${rowGuard('cancel')} RETURNING ${VERIFICATION_COLUMNS}`, [id, now]);
    return toVerification(row);
  }

  /**
   * The client's open verifications for this number, canceled (a new start replaces them), each with the status it had.
   * The rows are found and locked by number first (the lock re-checks that they are still open), then updated by
   * id: the plan cannot depend on how many open verifications the statistics think there are. (Written as one
   * join with the open guard on both sides, a planner that believed there were none scanned every open
   * verification once per open verification: 2.8 s per start with 1,554 of them among 10 million.)
   */
  async supersedeOpen(tx: Tx, clientId: string, phoneE164: string, now: Date): Promise<Array<{ verification: Verification; previousStatus: VerificationStatus }>> {
    const [rows]: [Array<VerificationRow & { previous_status: VerificationStatus }>, number] = await tx.query(
      `WITH prev AS MATERIALIZED (SELECT id, status FROM verifications WHERE phone_e164 = $2 AND client_id = $1 AND ${fromGuard('supersede')} FOR UPDATE)
       UPDATE verifications v SET status = 'canceled', updated_at = $3 FROM prev WHERE v.id = prev.id
       RETURNING ${V_COLUMNS}, prev.status AS previous_status`,
      [clientId, phoneE164, now],
    );
    return rows.map((r) => ({ verification: toVerification(r) as Verification, previousStatus: r.previous_status }));
  }

  /** One open verification past its expiry. */
  async expire(tx: Tx, id: string, now: Date): Promise<Verification | undefined> {
    const [[row]]: [VerificationRow[], number] = await tx.query(
      `UPDATE verifications SET status = 'expired', updated_at = $2 WHERE id = $1 AND ${rowGuard('expire')} AND expires_at <= $2 RETURNING ${VERIFICATION_COLUMNS}`,
      [id, now],
    );
    return toVerification(row);
  }

  /** Up to `limit` open verifications past their expiry, claimed with SKIP LOCKED so that instances sweep together. */
  async expireDue(tx: Tx, now: Date, limit: number): Promise<Verification[]> {
    const [rows]: [VerificationRow[], number] = await tx.query(
      `UPDATE verifications SET status = 'expired', updated_at = $1
        WHERE id IN (SELECT id FROM verifications WHERE ${fromGuard('expire')} AND expires_at <= $1
                      ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING ${VERIFICATION_COLUMNS}`,
      [now, limit],
    );
    return rows.map((r) => toVerification(r) as Verification);
  }

  /**
   * The number's verifications waiting in `screening` and not past their expiry, locked until the transaction ends:
   * the real ones, or (`test`) those of test numbers, which only their own scripted checks decide.
   */
  async lockScreening(tx: Tx, phoneE164: string, now: Date, test = false): Promise<Verification[]> {
    const rows: VerificationRow[] = await tx.query(
      // `(expires_at > $2) IS TRUE`, not `expires_at > $2`: the same rows, but the expiry index (whose predicate needs a
      // bound on expires_at) is then no path for it, and the number's index is the only one
      `SELECT ${VERIFICATION_COLUMNS} FROM verifications WHERE phone_e164 = $1 AND status = 'screening' AND (expires_at > $2) IS TRUE AND (test IS NOT NULL) = $3 ORDER BY created_at FOR UPDATE`,
      [phoneE164, now, test],
    );
    return rows.map((r) => toVerification(r) as Verification);
  }

  /** Screening let it through: its first code (this one) is sent now, and its lifetime counts from now. */
  async release(
    tx: Tx,
    id: string,
    next: { codeHmac: Buffer; codeKeyId: string; expiresAt: Date; resendAvailableAt: Date; risk: RiskAssessment },
    now: Date,
  ): Promise<Verification | undefined> {
    const [[row]]: [VerificationRow[], number] = await tx.query(
      `UPDATE verifications SET status = 'pending', code_hmac = $2, code_key_id = $3, sends = 1, expires_at = $4, resend_available_at = $5, risk = $6::jsonb, updated_at = $7
        WHERE id = $1 AND ${rowGuard('release')} RETURNING ${VERIFICATION_COLUMNS}`,
      [id, next.codeHmac, next.codeKeyId, next.expiresAt, next.resendAvailableAt, JSON.stringify(next.risk), now],
    );
    return toVerification(row);
  }

  /** Screening refused it after its start; `risk` is the decision record with what refused it. */
  async deny(tx: Tx, id: string, risk: RiskAssessment, now: Date): Promise<Verification | undefined> {
    const [[row]]: [VerificationRow[], number] = await tx.query(
      `UPDATE verifications SET status = 'denied', risk = $2::jsonb, updated_at = $3 WHERE id = $1 AND ${rowGuard('deny')} RETURNING ${VERIFICATION_COLUMNS}`,
      [id, JSON.stringify(risk), now],
    );
    return toVerification(row);
  }

  async markFailed(tx: Tx, id: string, now: Date): Promise<Verification | undefined> {
    const [[row]]: [VerificationRow[], number] = await tx.query(`UPDATE verifications SET status = 'failed', updated_at = $2 WHERE id = $1 AND ${rowGuard('fail')} RETURNING ${VERIFICATION_COLUMNS}`, [id, now]);
    return toVerification(row);
  }

  /**
   * Housekeeping: deletes at most `limit` final verifications (every status but screening and pending) created
   * before `before`, through the partial index verifications_final_created_idx; answers how many went. Their
   * audit events stay (the audit trail is never pruned here).
   */
  pruneFinal(q: Queryable, before: Date, limit: number, cursor = new PruneCursor()): Promise<number> {
    return cursor.deleteOldest(q, 'verifications', 'created_at', before, limit, `status NOT IN (${OPEN_STATUSES.map((st) => `'${st}'`).join(', ')})`);
  }
}
