import { Injectable } from '@nestjs/common';
import { SqlParams } from '../common/sql';
import type { Queryable, Tx } from '../common/tx';

export type BlocklistKind = 'number' | 'prefix';

export interface BlocklistEntry {
  id: string;
  kind: BlocklistKind;
  value: string;
  reason: string;
  expiresAt: Date | null;
  createdAt: Date;
  createdBy: string | null;
}

interface Row {
  id: string;
  kind: BlocklistKind;
  value: string;
  reason: string;
  expires_at: Date | null;
  created_at: Date;
  created_by: string | null;
}

const COLUMNS = 'id, kind, value, reason, expires_at, created_at, created_by';

const fromRow = (r: Row): BlocklistEntry => ({
  id: r.id,
  kind: r.kind,
  value: r.value,
  reason: r.reason,
  expiresAt: r.expires_at ? new Date(r.expires_at) : null,
  createdAt: new Date(r.created_at),
  createdBy: r.created_by,
});

export type BlocklistHit = Pick<BlocklistEntry, 'id' | 'kind' | 'value'>;

/**
 * Screening's lookup (BlocklistRepository.hits) as one JSON-array expression: the active entries that block the
 * number or one of its `prefixes`, through the (kind, value) unique index, most specific first. A fragment so
 * that the start's combined read (RiskSignalsRepository.startState) runs the same SQL; `p` binds the values.
 */
export function blocklistHitsSql(p: SqlParams['p'], e164: string, prefixes: string[], now: Date): string {
  return `(SELECT coalesce(json_agg(json_build_object('id', h.id, 'kind', h.kind, 'value', h.value) ORDER BY h.kind, length(h.value) DESC, h.id), '[]'::json)
             FROM (SELECT id, kind, value FROM blocklist
                    WHERE ((kind = 'number' AND value = ${p(e164)}) OR (kind = 'prefix' AND value = ANY(${p(prefixes)}::text[])))
                      AND (expires_at IS NULL OR expires_at > ${p(now)})
                    ORDER BY kind, length(value) DESC, id LIMIT 16) h)`;
}

/** All SQL on `blocklist` (screening's lookup also as a fragment: blocklistHitsSql). */
@Injectable()
export class BlocklistRepository {
  /**
   * Inserts the entry unless the same (kind, value) is there and still active; an expired one with that key is
   * replaced (it blocks nothing any more). Undefined when an active entry exists: the unique index decides
   * between two concurrent adds.
   */
  async insert(tx: Tx, entry: BlocklistEntry, now: Date): Promise<{ added?: BlocklistEntry; replacedExpired?: BlocklistEntry }> {
    // DELETE … RETURNING answers [rows, affected] through TypeORM's PostgreSQL driver.
    const [expired]: [Row[], number] = await tx.query(
      `DELETE FROM blocklist WHERE kind = $1 AND value = $2 AND expires_at IS NOT NULL AND expires_at <= $3 RETURNING ${COLUMNS}`,
      [entry.kind, entry.value, now],
    );
    const rows: Row[] = await tx.query(
      `INSERT INTO blocklist (id, kind, value, reason, expires_at, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (kind, value) DO NOTHING RETURNING ${COLUMNS}`,
      [entry.id, entry.kind, entry.value, entry.reason, entry.expiresAt, entry.createdAt, entry.createdBy],
    );
    return { added: rows[0] ? fromRow(rows[0]) : undefined, replacedExpired: expired[0] ? fromRow(expired[0]) : undefined };
  }

  async remove(tx: Tx, id: string): Promise<BlocklistEntry | undefined> {
    const [rows]: [Row[], number] = await tx.query(`DELETE FROM blocklist WHERE id = $1 RETURNING ${COLUMNS}`, [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** Newest first (ids are time-ordered ULIDs), keyset after `beforeId`; `limit + 1` rows so the caller sees whether more follow. */
  async list(q: Queryable, limit: number, beforeId?: string): Promise<BlocklistEntry[]> {
    const rows: Row[] = beforeId
      ? await q.query(`SELECT ${COLUMNS} FROM blocklist WHERE id < $1 ORDER BY id DESC LIMIT $2`, [beforeId, limit + 1])
      : await q.query(`SELECT ${COLUMNS} FROM blocklist ORDER BY id DESC LIMIT $1`, [limit + 1]);
    return rows.map(fromRow);
  }

  /**
   * The active entries that block this number: the number itself, or any prefix of it (`prefixes`), in one
   * lookup through the (kind, value) unique index.
   */
  async hits(tx: Tx, e164: string, prefixes: string[], now: Date): Promise<BlocklistHit[]> {
    const params = new SqlParams();
    const [row]: Array<{ hits: BlocklistHit[] }> = await tx.query(`SELECT ${blocklistHitsSql(params.p, e164, prefixes, now)} AS hits`, params.values);
    return row.hits;
  }
}
