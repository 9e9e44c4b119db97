import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { CallOutcomeKind, CallStatus } from '../common/events';
import type { Tx } from '../common/tx';
import { AnsweredBy, CALL_STATUS_ORDER } from './voice-calls.types';

export interface VoiceCallRow {
  provider: string;
  callId: string;
  reference: string | null;
  status: CallStatus;
  answeredBy: AnsweredBy | null;
  digits: string | null;
  outcome: CallOutcomeKind | null;
  sipResponseCode: number | null;
  sequence: number | null;
  updatedAt: Date;
}

/** What a callback changes on a call's row. */
export type VoiceCallChange = Omit<VoiceCallRow, 'provider' | 'callId' | 'reference' | 'updatedAt'>;

const COLUMNS = `provider, call_id AS "callId", reference, status, answered_by AS "answeredBy", digits, outcome,
                 sip_response_code AS "sipResponseCode", sequence, updated_at AS "updatedAt"`;

/**
 * All SQL on `voice_calls`. A row moves only forward through CALL_STATUS_ORDER: `update` refuses, in SQL, to
 * move it back or to touch an ended call, whatever the caller computed.
 */
@Injectable()
export class VoiceCallsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * The call's row, locked for the rest of the transaction; created (status queued) when the callback comes
   * before the create-call answer recorded it. `reference` fills a row that has none.
   */
  async lockOrCreate(tx: Tx, provider: string, callId: string, reference: string | null, now: Date): Promise<VoiceCallRow> {
    await tx.query(
      `INSERT INTO voice_calls (provider, call_id, reference, status, created_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, $4)
       ON CONFLICT (provider, call_id) DO UPDATE SET reference = EXCLUDED.reference WHERE voice_calls.reference IS NULL AND EXCLUDED.reference IS NOT NULL`,
      [provider, callId, reference, now],
    );
    const [row] = await tx.query(`SELECT ${COLUMNS} FROM voice_calls WHERE provider = $1 AND call_id = $2 FOR UPDATE`, [provider, callId]);
    return row as VoiceCallRow;
  }

  /** Writes the change unless it would move the call backwards (or the call has ended); whether it did. */
  async update(tx: Tx, provider: string, callId: string, change: VoiceCallChange, now: Date): Promise<boolean> {
    const [rows]: [unknown[], number] = await tx.query(
      `UPDATE voice_calls SET status = $3, answered_by = $4, digits = $5, outcome = $6, sip_response_code = $7, sequence = COALESCE($8, sequence), updated_at = $9
        WHERE provider = $1 AND call_id = $2 AND status <> 'ended'
          AND array_position($10::text[], status) <= array_position($10::text[], $3::text)
        RETURNING call_id`,
      [provider, callId, change.status, change.answeredBy, change.digits, change.outcome, change.sipResponseCode, change.sequence, now, CALL_STATUS_ORDER],
    );
    return rows.length > 0; // (an UPDATE answers [rows, count])
  }

  /** Records a call the provider just accepted; its callbacks may have recorded it already. */
  async recordPlaced(provider: string, callId: string, reference: string, now: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO voice_calls (provider, call_id, reference, status, created_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, $4)
       ON CONFLICT (provider, call_id) DO UPDATE SET reference = EXCLUDED.reference WHERE voice_calls.reference IS NULL`,
      [provider, callId, reference, now],
    );
  }

  async find(provider: string, callId: string): Promise<VoiceCallRow | null> {
    const rows: VoiceCallRow[] = await this.db.query(`SELECT ${COLUMNS} FROM voice_calls WHERE provider = $1 AND call_id = $2`, [provider, callId]);
    return rows[0] ?? null;
  }

  /**
   * Housekeeping: deletes at most `limit` call records created before `before` (a call lasts minutes; its
   * outcome was published and audited when it ended), through voice_calls_created_at_idx; answers how many went.
   */
  async pruneBefore(before: Date, limit: number): Promise<number> {
    const [, n]: [unknown, number] = await this.db.query(
      `DELETE FROM voice_calls WHERE ctid = ANY(ARRAY(SELECT ctid FROM voice_calls WHERE created_at < $1 LIMIT $2))`,
      [before, limit],
    );
    return n;
  }
}
