import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { parsePhone } from '../common/phone';
import { Problems } from '../common/problem';
import { ChainCheckResult, ChainVerifier, GENESIS_HASH } from './audit-chain';
import { AuditEventRecord, AuditEventRow, EVENT_COLUMNS, fromRow } from './audit-rows';
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

/**
 * Position in a listing. `h` is the chain head when the listing began: events at or below it are listed by
 * seq (keyset, newest first); events above it or not chained yet form the "upper" part, listed first by
 * (occurredAt, id) newest first. `u` is a position in the upper part, `s` one in the chained part.
 */
interface Cursor {
  h: number;
  u?: [string, string];
  s?: number;
}

const FETCH_ROWS = 500;

/** Reading the trail: filtered keyset listing, the streamed integrity walk, the streamed export. */
@Injectable()
export class AuditReader {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly audit: AuditService,
  ) {}

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
   * One page, newest first. Events not chained yet (and events chained after the listing began) come first,
   * by occurredAt; then chained events by seq. A cursor holds the head seen on the first page, so later
   * pages neither repeat nor skip an event while the sequencer keeps chaining (see docs/audit.md).
   */
  async list(filters: AuditFilters, limit: number, cursorText?: string, manager: EntityManager = this.db.manager): Promise<AuditPage> {
    const cursor = cursorText ? decodeCursor(cursorText) : undefined;
    const h = cursor ? cursor.h : await this.chainedMax(manager);
    const items: AuditEventRecord[] = [];

    if (!cursor || cursor.u) {
      const upper = await this.upperPage(manager, filters, h, limit + 1, cursor?.u);
      if (upper.length > limit) {
        const page = upper.slice(0, limit);
        const last = page[page.length - 1];
        return { items: page, nextCursor: encodeCursor({ h, u: [last.occurredAt.toISOString(), last.id] }) };
      }
      items.push(...upper);
    }

    const room = limit - items.length;
    const below = cursor?.s !== undefined ? Math.min(cursor.s, h + 1) : h + 1;
    const chained = await this.chainedPage(manager, filters, below, room + 1);
    items.push(...chained.slice(0, room));
    if (chained.length > room) {
      const lastSeq = items.length ? items[items.length - 1].seq : null;
      // room 0: the page ended exactly with the upper part; the chained part starts below h + 1
      return { items, nextCursor: encodeCursor({ h, s: lastSeq !== null && room > 0 ? lastSeq : below }) };
    }
    return { items, nextCursor: null };
  }

  private async chainedMax(manager: EntityManager): Promise<number> {
    const [row] = await manager.query(`SELECT coalesce(max(seq), 0) AS h FROM audit_events`);
    return Number(row.h);
  }

  private where(filters: AuditFilters, params: unknown[]): string[] {
    const clauses: string[] = [];
    const add = (sql: (p: string) => string, value: unknown) => {
      params.push(value);
      clauses.push(sql(`$${params.length}`));
    };
    if (filters.verificationId) add((p) => `verification_id = ${p}`, filters.verificationId);
    if (filters.phoneNumber) add((p) => `phone_hash = ${p}`, this.audit.phoneHash(filters.phoneNumber));
    if (filters.clientId) add((p) => `client_id = ${p}`, filters.clientId);
    if (filters.type) add((p) => `type = ${p}`, filters.type);
    if (filters.from) add((p) => `occurred_at >= ${p}`, filters.from);
    if (filters.to) add((p) => `occurred_at < ${p}`, filters.to);
    return clauses;
  }

  private async upperPage(manager: EntityManager, filters: AuditFilters, h: number, n: number, after?: [string, string]) {
    const params: unknown[] = [];
    const clauses = this.where(filters, params);
    if (after) {
      params.push(new Date(after[0]), after[1]);
      clauses.push(`(occurred_at, id) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(String(h), n);
    const hp = `$${params.length - 1}`;
    const np = `$${params.length}`;
    const and = clauses.map((c) => ` AND ${c}`).join('');
    // Two branches so that each uses its index: the partial index of unchained events, the seq index above h.
    const rows: AuditEventRow[] = await manager.query(
      `SELECT * FROM (
         (SELECT ${EVENT_COLUMNS} FROM audit_events WHERE seq IS NULL${and} ORDER BY occurred_at DESC, id DESC LIMIT ${np})
         UNION ALL
         (SELECT ${EVENT_COLUMNS} FROM audit_events WHERE seq > ${hp}${and} ORDER BY occurred_at DESC, id DESC LIMIT ${np})
       ) upper_part ORDER BY occurred_at DESC, id DESC LIMIT ${np}`,
      params,
    );
    return rows.map(fromRow);
  }

  private async chainedPage(manager: EntityManager, filters: AuditFilters, below: number, n: number) {
    const params: unknown[] = [];
    const clauses = this.where(filters, params);
    params.push(String(below), n);
    const rows: AuditEventRow[] = await manager.query(
      `SELECT ${EVENT_COLUMNS} FROM audit_events
        WHERE seq < $${params.length - 1}${clauses.map((c) => ` AND ${c}`).join('')}
        ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(fromRow);
  }

  /**
   * Walks the whole chain from the latest checkpoint (or the start) in seq order, through a database cursor
   * in one REPEATABLE READ snapshot, keeping one link in memory, and compares its end with the head the
   * sequencer recorded.
   */
  async verifyChain(): Promise<IntegrityResult> {
    return this.inSnapshot(async (qr) => {
      const [cp] = await qr.query(`SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`);
      const [head] = await qr.query(`SELECT seq, hash FROM audit_chain_head WHERE id = 1`);
      const [{ unchained }] = await qr.query(`SELECT count(*)::int AS unchained FROM audit_events WHERE seq IS NULL`);
      const start = cp ? { seq: Number(cp.seq), hash: cp.hash as Buffer } : { seq: 0, hash: GENESIS_HASH };
      const verifier = new ChainVerifier(start);
      await qr.query(`DECLARE audit_walk NO SCROLL CURSOR FOR SELECT ${EVENT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq`, [
        String(start.seq),
      ]);
      for (;;) {
        const rows: AuditEventRow[] = await qr.query(`FETCH FORWARD ${FETCH_ROWS} FROM audit_walk`);
        for (const row of rows) {
          if (!verifier.push(fromRow(row) as AuditEventRecord & { seq: number })) break;
        }
        if (rows.length < FETCH_ROWS || verifier.isBroken) break;
      }
      await qr.query(`CLOSE audit_walk`);
      const result = verifier.finish(head ? { seq: Number(head.seq), hash: head.hash } : undefined);
      return { ...result, unchained, checkpoint: cp ? { seq: Number(cp.seq), hash: (cp.hash as Buffer).toString('hex') } : null };
    });
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
      const params: unknown[] = [];
      const clauses = this.where(filters, params);
      await qr.query(
        `DECLARE audit_export NO SCROLL CURSOR FOR SELECT ${EVENT_COLUMNS} FROM audit_events
          ${clauses.length ? 'WHERE ' + clauses.join(' AND ') : ''} ORDER BY seq ASC NULLS LAST, occurred_at, id`,
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

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function decodeCursor(text: string): Cursor {
  const bad = () => Problems.validation([{ field: 'cursor', message: 'cursor must be a nextCursor returned by this endpoint' }]);
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw bad();
  const { h, u, s, ...rest } = c as Record<string, unknown>;
  if (Object.keys(rest).length || !Number.isSafeInteger(h) || (h as number) < 0) throw bad();
  if ((u === undefined) === (s === undefined)) throw bad();
  if (u !== undefined) {
    if (!Array.isArray(u) || u.length !== 2 || typeof u[0] !== 'string' || !ISO.test(u[0]) || typeof u[1] !== 'string' || !/^evt_[A-Za-z0-9]{1,64}$/.test(u[1])) {
      throw bad();
    }
    return { h: h as number, u: [u[0], u[1]] };
  }
  if (!Number.isSafeInteger(s) || (s as number) < 1) throw bad();
  return { h: h as number, s: s as number };
}
