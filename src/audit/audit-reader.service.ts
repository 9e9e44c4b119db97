import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { parsePhone } from '../common/phone';
import { decodeCursor, encodeCursor } from '../common/paging';
import { ProblemException, Problems } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { ChainCheckResult, ChainLink, GENESIS_HASH } from './audit-chain';
import { WALK_FETCH_ROWS, walkChain } from './audit-chain-walker';
import { AuditEventRecord, AuditEventRow, CHAINED_COLUMNS, EVENTS_WITH_LINKS, fromRow } from './audit-rows';
import { AuditService } from './audit.service';
import type { AuditFiltersQuery } from './dto/audit-query.dto';

export interface AuditFilters {
  verificationId?: string;
  /** Normalized E.164; matched through its HMAC. */
  phoneNumber?: string;
  clientId?: string;
  type?: string;
  from?: Date;
  to?: Date;
}

export interface AuditPage {
  items: AuditEventRecord[];
  nextCursor: string | null;
}

export interface IntegrityResult extends ChainCheckResult {
  unchained: number;
  checkpoint: { seq: number; hash: string } | null;
}

/** Position in a listing: the seq of the last event returned (the next page lists events below it). */
interface Cursor {
  s: number;
}

const FETCH_ROWS = 500;
/** Events in one write of an export: the controller's idle timeout is timed per piece. */
export const EXPORT_PIECE = 50;

export interface WalkOptions {
  /** Rows per FETCH of the walk. */
  fetchRows?: number;
  /** Ranges walked side by side (default: WALKERS for a chain of SPLIT_MIN_EVENTS or more, else 1). */
  walkers?: number;
}
/** Integrity walkers for a long chain: one per core of the machine it was sized for (2), the database working beside them. */
const WALKERS = 2;
const SPLIT_MIN_EVENTS = 100_000;

/** Reading the trail: filtered keyset listing, the streamed integrity walk, the streamed export. */
@Injectable()
export class AuditReader {
  /** Exports running in this process (exportSlot). */
  private exports = 0;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  /** How long an export may wait for its reader (AUDIT_EXPORT_IDLE_TIMEOUT_SECONDS). */
  get exportIdleTimeoutMs(): number {
    return this.config.audit.exports.idleTimeoutMs;
  }

  /**
   * One of the exports this process runs at a time (a quarter of the pool, at least one): each holds a pool connection
   * for as long as its reader takes, so more would starve the requests. 503 with Retry-After when all are taken. The
   * function returned gives the slot back (once, whenever called again).
   */
  exportSlot(): () => void {
    if (this.exports >= this.config.audit.exports.max) {
      throw new ProblemException(503, 'service_unavailable', `This instance already runs ${this.config.audit.exports.max} audit export(s); retry after the time in Retry-After.`, {
        headers: { 'Retry-After': '5' },
      });
    }
    this.exports++;
    let released = false;
    return () => {
      if (!released) this.exports--;
      released = true;
    };
  }

  /** Validated query → filters; the phone number is normalized (as record() callers do). */
  filtersFrom(q: AuditFiltersQuery): AuditFilters {
    const filters: AuditFilters = {
      verificationId: q.verificationId,
      clientId: q.clientId,
      type: q.type,
      phoneNumber: q.phoneNumber ? parsePhone(q.phoneNumber).e164 : undefined,
      from: q.from ? new Date(q.from) : undefined,
      to: q.to ? new Date(q.to) : undefined,
    };
    if (filters.from && filters.to && filters.from.getTime() >= filters.to.getTime()) {
      throw Problems.validation([{ field: 'to', message: 'to must be later than from' }]);
    }
    return filters;
  }

  /**
   * One page, newest first by seq (keyset: no OFFSET). Events not chained yet are the newest and come first,
   * marked `chained: false`. An event whose transaction commits after a walk passed its number is not shown
   * by that walk (as if the walk had started before it); nothing is ever repeated or skipped otherwise.
   */
  async list(filters: AuditFilters, limit: number, cursorText?: string, manager: EntityManager = this.db.manager): Promise<AuditPage> {
    const cursor = cursorText
      ? decodeCursor(cursorText, ({ s, ...rest }): Cursor | undefined => (!Object.keys(rest).length && Number.isSafeInteger(s) && (s as number) >= 1 ? { s: s as number } : undefined))
      : undefined;
    const params: unknown[] = [];
    const clauses = this.where(filters, params);
    if (cursor) {
      params.push(String(cursor.s));
      clauses.push(`e.seq < $${params.length}`);
    }
    params.push(limit + 1);
    // The page's seqs first, from the filter's index alone (each ends with or includes seq), then only those events
    // and their links: a time window is not read through the table to be sorted.
    const rows: AuditEventRow[] = await manager.query(
      `WITH page AS MATERIALIZED (
         SELECT e.seq FROM audit_events e ${clauses.length ? 'WHERE ' + clauses.join(' AND ') : ''} ORDER BY e.seq DESC LIMIT $${params.length})
       SELECT ${CHAINED_COLUMNS} FROM page JOIN (${EVENTS_WITH_LINKS}) ON e.seq = page.seq
        ORDER BY e.seq DESC`,
      params,
    );
    const items = rows.slice(0, limit).map(fromRow);
    return { items, nextCursor: rows.length > limit ? encodeCursor({ s: items[items.length - 1].seq } satisfies Cursor) : null };
  }

  private where(filters: AuditFilters, params: unknown[]): string[] {
    const clauses: string[] = [];
    const add = (sql: (p: string) => string, value: unknown) => {
      params.push(value);
      clauses.push(sql(`$${params.length}`));
    };
    if (filters.verificationId) add((p) => `e.verification_id = ${p}`, filters.verificationId);
    if (filters.phoneNumber) {
      // through audit_events_phone_prefix_idx (its first 8 bytes), then the whole HMAC: no other number's events
      const hash = this.audit.phoneHash(filters.phoneNumber);
      add((p) => `substring(e.phone_hash FROM 1 FOR 8) = ${p}`, hash.subarray(0, 8));
      add((p) => `e.phone_hash = ${p}`, hash);
    }
    if (filters.clientId) add((p) => `e.client_id = ${p}`, filters.clientId);
    if (filters.type) add((p) => `e.type = ${p}`, filters.type);
    if (filters.from) add((p) => `e.occurred_at >= ${p}`, filters.from);
    if (filters.to) add((p) => `e.occurred_at < ${p}`, filters.to);
    return clauses;
  }

  /**
   * Walks the whole chain from the latest checkpoint (or the start) to the head the sequencer recorded, in seq
   * order, through a database cursor in one REPEATABLE READ snapshot, keeping one link in memory. The walk
   * follows audit_chain, so a link whose event is gone shows at its own seq; a second query finds events
   * inside the chained range that have no link (inserted out of band).
   */
  async verifyChain(options: WalkOptions = {}): Promise<IntegrityResult> {
    return this.inSnapshot(async (qr) => {
      const [cp] = await qr.query(`SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`);
      const [head] = await qr.query(`SELECT seq, hash FROM audit_chain_head WHERE id = 1`);
      const [{ unchained }] = await qr.query(`SELECT count(*)::int AS unchained FROM audit_events WHERE seq > $1`, [head.seq]);
      const start = cp ? { seq: Number(cp.seq), hash: cp.hash as Buffer } : { seq: 0, hash: GENESIS_HASH };
      const expectedHead = { seq: Number(head.seq), hash: head.hash as Buffer };
      const result = await this.walk(qr, start, expectedHead, options);
      const [{ stray }] = await qr.query(
        `SELECT min(e.seq) AS stray FROM audit_events e
          WHERE e.seq > $1 AND e.seq <= $2 AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.seq = e.seq)`,
        [String(start.seq), head.seq],
      );
      if (stray !== null && (result.ok || Number(stray) < (result.firstBrokenSeq as number))) {
        Object.assign(result, { ok: false, firstBrokenSeq: Number(stray), reason: 'unexpected_event' });
      }
      return Object.assign({}, result, { unchained, checkpoint: cp ? { seq: Number(cp.seq), hash: (cp.hash as Buffer).toString('hex') } : null });
    });
  }

  /**
   * The walk itself, in worker threads (walkChain), each on its own connection in this transaction's snapshot. A
   * long chain is cut into consecutive seq ranges walked side by side: a range starts from the stored link that
   * ends the range before it, and must end on that link (its expected head). The range before verifies that link's
   * hash, so the ranges together check exactly what one walk would: the first range that breaks gives the result,
   * with the events the ranges before it checked.
   */
  private async walk(qr: QueryRunner, start: ChainLink, expectedHead: ChainLink, options: WalkOptions): Promise<ChainCheckResult> {
    const [{ snapshot }] = await qr.query(`SELECT pg_export_snapshot() AS snapshot`);
    const span = expectedHead.seq - start.seq;
    const walkers = Math.max(1, Math.min(options.walkers ?? (span >= SPLIT_MIN_EVENTS ? WALKERS : 1), span));
    const ranges: Array<{ start: ChainLink; through?: number; end: ChainLink }> = [];
    let from = start;
    for (let i = 1; i < walkers; i++) {
      const [link] = await qr.query(`SELECT seq, hash FROM audit_chain WHERE seq > $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1`, [
        String(from.seq),
        String(start.seq + Math.floor((span * i) / walkers)),
      ]);
      if (!link) continue; // no link in this stretch: it joins the next range
      const to = { seq: Number(link.seq), hash: link.hash as Buffer };
      ranges.push({ start: from, through: to.seq, end: to });
      from = to;
    }
    ranges.push({ start: from, end: expectedHead });
    const connection = connectionOptions(this.db);
    const hex = (l: ChainLink) => ({ seq: l.seq, hash: l.hash.toString('hex') });
    // every walker ends (none left reading after this transaction) before a failure is thrown
    const settled = await Promise.allSettled(
      ranges.map((r) =>
        walkChain({ connection, snapshot, start: hex(r.start), through: r.through, expectedHead: hex(r.end), fetchRows: Math.max(1, options.fetchRows ?? WALK_FETCH_ROWS) }),
      ),
    );
    const results = settled.map((s) => {
      if (s.status === 'rejected') throw s.reason;
      return s.value;
    });
    let checked = 0;
    for (const [i, r] of results.entries()) {
      checked += r.checked;
      if (!r.ok || i === results.length - 1) return Object.assign({}, r, { checked });
    }
    throw new Error('unreachable');
  }

  /**
   * The matching events in chain order (oldest first; events not chained yet last), read through a
   * database cursor in one snapshot, FETCH_ROWS at a time: memory stays flat whatever the size.
   * The connection is released when the generator finishes or is abandoned (client gone).
   */
  async *streamEvents(filters: AuditFilters): AsyncGenerator<AuditEventRecord[]> {
    const qr = this.db.createQueryRunner();
    await qr.connect();
    let open = false;
    try {
      await qr.query(`START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`);
      open = true;
      // A reader that stops reading leaves this transaction idle between two FETCHes. The controller cuts such an answer
      // off after the idle timeout a piece; should that fail, the server ends the transaction once a whole FETCH's
      // pieces and one more could have taken that long each (a slow reader still reading is not ended by it).
      const backstopMs = (FETCH_ROWS / EXPORT_PIECE + 1) * this.config.audit.exports.idleTimeoutMs;
      await qr.query(`SELECT set_config('idle_in_transaction_session_timeout', $1, true)`, [String(backstopMs)]);
      const params: unknown[] = [];
      const clauses = this.where(filters, params);
      await qr.query(
        `DECLARE audit_export NO SCROLL CURSOR FOR SELECT ${CHAINED_COLUMNS} FROM ${EVENTS_WITH_LINKS}
          ${clauses.length ? 'WHERE ' + clauses.join(' AND ') : ''} ORDER BY e.seq`,
        params,
      );
      for (;;) {
        const rows: AuditEventRow[] = await qr.query(`FETCH FORWARD ${FETCH_ROWS} FROM audit_export`);
        if (rows.length) yield rows.map(fromRow);
        if (rows.length < FETCH_ROWS) break;
      }
      await qr.query(`COMMIT`);
      open = false;
    } finally {
      if (open) await qr.query(`ROLLBACK`).catch(() => undefined);
      await qr.release();
    }
  }

  private async inSnapshot<T>(work: (qr: QueryRunner) => Promise<T>): Promise<T> {
    const qr = this.db.createQueryRunner();
    await qr.connect();
    try {
      await qr.query(`START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`);
      try {
        const result = await work(qr);
        await qr.query(`COMMIT`);
        return result;
      } catch (err) {
        await qr.query(`ROLLBACK`).catch(() => undefined);
        throw err;
      }
    } finally {
      await qr.release();
    }
  }
}

/**
 * The connection options of the app's pool (node-pg's, as TypeORM built them) for the walker's own connection:
 * plain values only (a worker receives a copy), pool-only settings left out.
 */
function connectionOptions(db: DataSource): Record<string, unknown> {
  const pool = (db.driver as unknown as { master: { options: Record<string, unknown> } }).master;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(pool.options)) {
    if (v !== undefined && typeof v !== 'function' && !POOL_ONLY.has(k)) out[k] = v;
  }
  return out;
}
const POOL_ONLY = new Set(['max', 'min', 'maxUses', 'allowExitOnIdle', 'maxLifetimeSeconds', 'idleTimeoutMillis']);
