import { Injectable } from '@nestjs/common';
import type { Queryable, Tx } from '../common/tx';
import type { PumpingUnitKind } from './velocity-rules';

/**
 * `enforce`: starts of clients whose pumping policy is `enforce` are denied while it is active. `record_only`: a
 * trip in a client's `record_only` traffic, recorded, suspending nothing. `report`: the home country tripped; it
 * is reported, never suspended.
 */
export type SuspensionMode = 'enforce' | 'record_only' | 'report';

export interface Suspension {
  id: string;
  kind: PumpingUnitKind;
  unit: string;
  mode: SuspensionMode;
  reason: string;
  figures: Record<string, unknown>;
  createdAt: Date;
  expiresAt: Date;
  releasedAt: Date | null;
  releasedBy: string | null;
}

interface Row {
  id: string;
  kind: PumpingUnitKind;
  unit: string;
  mode: SuspensionMode;
  reason: string;
  figures: Record<string, unknown>;
  created_at: Date;
  expires_at: Date;
  released_at: Date | null;
  released_by: string | null;
}

const COLUMNS = 'id, kind, unit, mode, reason, figures, created_at, expires_at, released_at, released_by';

const fromRow = (r: Row): Suspension => ({
  id: r.id,
  kind: r.kind,
  unit: r.unit,
  mode: r.mode,
  reason: r.reason,
  figures: r.figures,
  createdAt: new Date(r.created_at),
  expiresAt: new Date(r.expires_at),
  releasedAt: r.released_at ? new Date(r.released_at) : null,
  releasedBy: r.released_by,
});

/** All SQL on `risk_suspensions` but screening's read of it (RiskSignalsRepository.startState). */
@Injectable()
export class SuspensionsRepository {
  /**
   * Inserts the suspension unless the unit already has an active one of a mode in `coveredBy` (two starts
   * tripping the same unit at once make one row). The unit is locked first, in its own statement, so that
   * the check sees a concurrent trip that committed meanwhile. Undefined when one was there, and when another
   * transaction holds the unit's lock: that one is recording a trip of the unit, so this start leaves it to it
   * rather than waiting for its commit (a lock held to the end of the transaction would make every start that
   * tripped the unit at the same moment wait for the one before it). Were that one to roll back, the unit's
   * next start trips it again, as its counters still say so.
   */
  async insertUnlessActive(tx: Tx, s: Suspension, coveredBy: SuspensionMode[]): Promise<Suspension | undefined> {
    const [{ locked }]: Array<{ locked: boolean }> = await tx.query(`SELECT pg_try_advisory_xact_lock(hashtextextended($1, 8)) AS locked`, [`suspension:${s.kind}:${s.unit}`]);
    if (!locked) return undefined;
    const rows: Row[] = await tx.query(
      `INSERT INTO risk_suspensions (id, kind, unit, mode, reason, figures, created_at, expires_at)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8
        WHERE NOT EXISTS (SELECT 1 FROM risk_suspensions WHERE kind = $2 AND unit = $3 AND mode = ANY($9::text[]) AND released_at IS NULL AND expires_at > $7)
       RETURNING ${COLUMNS}`,
      [s.id, s.kind, s.unit, s.mode, s.reason, s.figures, s.createdAt, s.expiresAt, coveredBy],
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** Ends an active suspension now; undefined when it is not active (released, expired) or does not exist. */
  async release(tx: Tx, id: string, by: string | null, now: Date): Promise<Suspension | undefined> {
    const [rows]: [Row[], number] = await tx.query(
      `UPDATE risk_suspensions SET released_at = $2, released_by = $3 WHERE id = $1 AND released_at IS NULL AND expires_at > $2 RETURNING ${COLUMNS}`,
      [id, now, by],
    );
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async find(q: Queryable, id: string): Promise<Suspension | undefined> {
    const rows: Row[] = await q.query(`SELECT ${COLUMNS} FROM risk_suspensions WHERE id = $1`, [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** Newest first (ids are time-ordered ULIDs), keyset after `beforeId`, `limit + 1` rows; only active ones when asked. */
  async list(q: Queryable, limit: number, opts: { beforeId?: string; activeAt?: Date }): Promise<Suspension[]> {
    const params: unknown[] = [limit + 1];
    const where: string[] = [];
    if (opts.beforeId) where.push(`id < $${params.push(opts.beforeId)}`);
    if (opts.activeAt) where.push(`released_at IS NULL AND expires_at > $${params.push(opts.activeAt)}`);
    const rows: Row[] = await q.query(
      `SELECT ${COLUMNS} FROM risk_suspensions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $1`,
      params,
    );
    return rows.map(fromRow);
  }
}
