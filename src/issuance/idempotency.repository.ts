import { Injectable } from '@nestjs/common';
import { ProblemException } from '../common/problem';
import type { Queryable, Tx } from '../common/tx';
import { PruneCursor } from '../database/housekeeping';
import type { VerificationView } from './dto/verification.view';

const WINDOW_MS = 24 * 3600 * 1000;

export interface StoredAnswer {
  status: 201 | 202;
  body: VerificationView;
}

/** All SQL on `idempotency_keys`: a start repeated with the same key and body within 24 h gets the first answer. */
@Injectable()
export class IdempotencyRepository {
  /** The first answer to this key (409 if the key came with another body), or undefined if there is none yet. */
  async storedAnswer(q: Queryable, clientId: string, key: string, hash: Buffer, now: Date): Promise<StoredAnswer | undefined> {
    const [existing]: Array<{ request_hash: Buffer; response_status: number | null; response_body: VerificationView | null }> = await q.query(
      `SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND created_at >= $3`,
      [clientId, key, new Date(now.getTime() - WINDOW_MS)],
    );
    if (!existing) return undefined;
    if (!existing.request_hash.equals(hash)) {
      throw new ProblemException(409, 'idempotency_key_reused', 'This Idempotency-Key was used with another request body in the last 24 hours.');
    }
    if (existing.response_status === null || !existing.response_body) return undefined;
    return { status: existing.response_status as 201 | 202, body: existing.response_body };
  }

  /**
   * Claims the key for this request; returns the stored answer for a repeat, undefined for a new key. One
   * statement: a new key is inserted, a claim older than the window is taken over (its answer dropped); a live
   * one is left as it is (no row comes back) and its answer is read.
   */
  async claim(tx: Tx, clientId: string, key: string, hash: Buffer, now: Date): Promise<StoredAnswer | undefined> {
    // A concurrent request with the same key blocks here until the first one commits (or rolls back).
    const claimed: unknown[] = await tx.query(
      `INSERT INTO idempotency_keys (client_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (client_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, response_status = NULL, response_body = NULL, created_at = EXCLUDED.created_at
         WHERE idempotency_keys.created_at < $5
       RETURNING key`,
      [clientId, key, hash, now, new Date(now.getTime() - WINDOW_MS)],
    );
    if (claimed.length) return undefined;
    const stored = await this.storedAnswer(tx, clientId, key, hash, now);
    if (!stored) throw new ProblemException(409, 'idempotency_key_in_use', 'A request with this Idempotency-Key is still being processed; retry shortly.');
    return stored;
  }

  /** Housekeeping: deletes at most `limit` keys past their 24 h (through idempotency_keys_created_at_idx); answers how many went. */
  pruneExpired(q: Queryable, now: Date, limit: number, cursor = new PruneCursor()): Promise<number> {
    return cursor.deleteOldest(q, 'idempotency_keys', 'created_at', new Date(now.getTime() - WINDOW_MS), limit);
  }

  /** Stores the answer with the claimed key (joins the transaction's combined statement). */
  saveAnswer(tx: Tx, clientId: string, key: string, answer: StoredAnswer): void {
    tx.defer(
      (p) => `UPDATE idempotency_keys SET response_status = ${p(answer.status)}, response_body = ${p(JSON.stringify(answer.body))} WHERE client_id = ${p(clientId)} AND key = ${p(key)}`,
    );
  }
}
