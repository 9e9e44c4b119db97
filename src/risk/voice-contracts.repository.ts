import { Injectable } from '@nestjs/common';
import type { VoiceCheckMethod } from '../common/events';
import type { Queryable, Tx } from '../common/tx';
import type { ScriptedIvrOutcome } from '../common/test-numbers';

export type VoiceCheckStatus = 'checking' | 'confirmed' | 'absent' | 'unknown';

/** One call of a check, as its history shows it. */
export interface CheckCallRecord {
  provider: string;
  callId: string | null;
  outcome: string;
  sipResponseCode: number | null;
  endedAt: string;
}

/** One voice-contract check of a number; the newest check of a number is its record. */
export interface VoiceCheck {
  id: string;
  phoneHash: Buffer;
  phoneMasked: string;
  /** The number, sealed, while the check may still place calls; null once decided. */
  phoneSealed: Buffer | null;
  clientId: string | null;
  method: VoiceCheckMethod;
  status: VoiceCheckStatus;
  locale: 'ja' | 'en';
  callsPlaced: number;
  calls: CheckCallRecord[];
  provider: string | null;
  callId: string | null;
  outcome: string | null;
  createdAt: Date;
  checkedAt: Date | null;
  expiresAt: Date | null;
  updatedAt: Date;
  /** A check of a test number: how its calls are scripted to end. Such a check is never the number's record. */
  testOutcome: ScriptedIvrOutcome | null;
}

const COLUMNS = `id, phone_hash AS "phoneHash", phone_masked AS "phoneMasked", phone_sealed AS "phoneSealed", client_id AS "clientId", method, status, locale,
                 calls_placed AS "callsPlaced", calls, provider, call_id AS "callId", outcome, created_at AS "createdAt", checked_at AS "checkedAt",
                 expires_at AS "expiresAt", updated_at AS "updatedAt", test_outcome AS "testOutcome"`;

/** All SQL on `voice_contract_checks`. */
@Injectable()
export class VoiceContractsRepository {
  /** The number's newest real check (its record; test numbers' checks are none), or null. One index probe: (phone_hash, created_at DESC). */
  async latest(q: Queryable, phoneHash: Buffer): Promise<VoiceCheck | null> {
    const rows: VoiceCheck[] = await q.query(
      `SELECT ${COLUMNS} FROM voice_contract_checks WHERE phone_hash = $1 AND test_outcome IS NULL ORDER BY created_at DESC, id DESC LIMIT 1`,
      [phoneHash],
    );
    return rows[0] ?? null;
  }

  /** The number's checks, newest first (its history). */
  async history(q: Queryable, phoneHash: Buffer, limit: number): Promise<VoiceCheck[]> {
    return q.query(`SELECT ${COLUMNS} FROM voice_contract_checks WHERE phone_hash = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, [phoneHash, limit]);
  }

  /** The check, locked until the transaction ends. */
  async lock(tx: Tx, id: string): Promise<VoiceCheck | null> {
    const rows: VoiceCheck[] = await tx.query(`SELECT ${COLUMNS} FROM voice_contract_checks WHERE id = $1 FOR UPDATE`, [id]);
    return rows[0] ?? null;
  }

  /**
   * Open outbound checks started before `before` (past their window), oldest first, at most `limit`, locked; those
   * another transaction holds (a callback deciding one now) are skipped. Through voice_contract_checks_open_idx.
   */
  async lockStale(tx: Tx, before: Date, limit: number): Promise<VoiceCheck[]> {
    return tx.query(
      `SELECT ${COLUMNS} FROM voice_contract_checks WHERE status = 'checking' AND created_at <= $1 AND method = 'ivr_outbound'
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [before, limit],
    );
  }

  /** The open inbound check of this number started after `since`, locked (the newest, if several). */
  async lockOpenInbound(tx: Tx, phoneHash: Buffer, since: Date): Promise<VoiceCheck | null> {
    const rows: VoiceCheck[] = await tx.query(
      `SELECT ${COLUMNS} FROM voice_contract_checks
        WHERE phone_hash = $1 AND method = 'ivr_inbound' AND status = 'checking' AND created_at > $2
        ORDER BY created_at DESC LIMIT 1 FOR UPDATE`,
      [phoneHash, since],
    );
    return rows[0] ?? null;
  }

  insert(tx: Tx, c: VoiceCheck): void {
    tx.defer(
      (p) => `INSERT INTO voice_contract_checks (id, phone_hash, phone_masked, phone_sealed, client_id, method, status, locale, calls_placed, calls, provider, call_id,
                                                 outcome, created_at, checked_at, expires_at, updated_at, test_outcome)
              VALUES (${[c.id, c.phoneHash, c.phoneMasked, c.phoneSealed, c.clientId, c.method, c.status, c.locale, c.callsPlaced].map(p).join(', ')},
                      ${p(JSON.stringify(c.calls))}::jsonb, ${[c.provider, c.callId, c.outcome, c.createdAt, c.checkedAt, c.expiresAt, c.updatedAt, c.testOutcome].map(p).join(', ')})`,
    );
  }

  /** A call of a still-open check ended and another is placed: its history grows. */
  async addCall(tx: Tx, id: string, call: CheckCallRecord, callsPlaced: number, now: Date): Promise<void> {
    await tx.query(
      `UPDATE voice_contract_checks SET calls = calls || $2::jsonb, calls_placed = $3, updated_at = $4 WHERE id = $1 AND status = 'checking'`,
      [id, JSON.stringify([call]), callsPlaced, now],
    );
  }

  /** Decides an open check; the sealed number is wiped. Whether it was still open. */
  async decide(
    tx: Tx,
    id: string,
    d: { status: Exclude<VoiceCheckStatus, 'checking'>; call: CheckCallRecord | null; provider: string | null; callId: string | null; outcome: string | null; expiresAt: Date | null },
    now: Date,
  ): Promise<boolean> {
    const [rows]: [unknown[], number] = await tx.query(
      `UPDATE voice_contract_checks
          SET status = $2, calls = calls || $3::jsonb, provider = $4, call_id = $5, outcome = $6, expires_at = $7, checked_at = $8, updated_at = $8, phone_sealed = NULL
        WHERE id = $1 AND status = 'checking' RETURNING id`,
      [id, d.status, JSON.stringify(d.call ? [d.call] : []), d.provider, d.callId, d.outcome, d.expiresAt, now],
    );
    return rows.length > 0;
  }
}
