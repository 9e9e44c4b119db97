import { Injectable } from '@nestjs/common';
import { AuditService, type AuditEventInput } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { newId } from '../common/ids';
import { decodeCursor, encodeCursor } from '../common/paging';
import { InvalidPhoneNumber } from '../common/phone';
import { FieldError, ProblemException, Problems } from '../common/problem';
import type { Tx } from '../common/tx';
import { Transactions } from '../database/transactions';
import { BlocklistEntry, BlocklistHit, BlocklistKind, BlocklistRepository } from './blocklist.repository';
import type { BlocklistEntryView, CreateBlocklistEntryDto } from './dto/blocklist.dto';
import { parseNumber } from './phone-numbers';
import type { RiskRuleHit } from './risk.port';

export interface ActingAdmin {
  actor: AuditEventInput['actor'];
  ip: string | null;
}

const E164 = /^\+[1-9]\d{6,14}$/;
const PREFIX = /^\+[1-9]\d{1,14}$/;

export const toView = (e: BlocklistEntry): BlocklistEntryView => ({
  id: e.id,
  kind: e.kind,
  value: e.value,
  reason: e.reason,
  expiresAt: e.expiresAt ? e.expiresAt.toISOString() : null,
  createdAt: e.createdAt.toISOString(),
});

/** Every prefix of an E.164 number that a prefix entry can hold (`+81`, `+819`, … the number itself). */
export function prefixesOf(e164: string): string[] {
  const out: string[] = [];
  for (let n = 3; n <= e164.length; n++) out.push(e164.slice(0, n));
  return out;
}

/** The entries that block a number (BlocklistRepository.hits, or a start's combined read), as rules that fired. */
export function blocklistRules(hits: BlocklistHit[]): RiskRuleHit[] {
  return hits.map((h) => ({ rule: 'blocklist', reason: 'blocklisted', kind: h.kind, entryId: h.id }));
}

/**
 * The admins' blocklist of numbers and prefixes (API.md, Admin): adding and removing entries (each change
 * audited in its own transaction), listing them, and the screening rule that denies a blocklisted number.
 */
@Injectable()
export class BlocklistService {
  constructor(
    private readonly repo: BlocklistRepository,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async add(dto: CreateBlocklistEntryDto, by: ActingAdmin): Promise<BlocklistEntryView> {
    const now = this.clock.now();
    const { kind, value } = this.target(dto);
    const expiresAt = dto.expiresAt === undefined || dto.expiresAt === null ? null : new Date(dto.expiresAt);
    if (expiresAt && Number.isNaN(expiresAt.getTime())) throw Problems.validation([{ field: 'expiresAt', message: 'expiresAt must be an ISO 8601 date-time' }]);
    if (expiresAt && expiresAt.getTime() <= now.getTime()) {
      throw Problems.validation([{ field: 'expiresAt', message: 'expiresAt must be in the future' }]);
    }
    const entry: BlocklistEntry = { id: newId('blk', now.getTime()), kind, value, reason: dto.reason, expiresAt, createdAt: now, createdBy: by.actor.id ?? null };
    return this.transactions.run(async (tx) => {
      const { added, replacedExpired } = await this.repo.insert(tx, entry, now);
      if (!added) throw new ProblemException(409, 'conflict', `${kind === 'number' ? 'This number' : 'This prefix'} is already on the blocklist.`);
      if (replacedExpired) await this.audit.record(tx, this.event('blocklist.removed', replacedExpired, by, { expired: true }));
      await this.audit.record(tx, this.event('blocklist.added', added, by));
      return toView(added);
    });
  }

  async remove(id: string, by: ActingAdmin): Promise<BlocklistEntryView> {
    return this.transactions.run(async (tx) => {
      const removed = await this.repo.remove(tx, id);
      if (!removed) throw Problems.notFound(`No blocklist entry ${id}.`);
      await this.audit.record(tx, this.event('blocklist.removed', removed, by));
      return toView(removed);
    });
  }

  async list(limit: number, cursor?: string): Promise<{ items: BlocklistEntryView[]; nextCursor: string | null }> {
    const rows = await this.repo.list(this.transactions.reader, limit, cursor === undefined ? undefined : decodeCursor(cursor, ({ i, ...rest }) => (!Object.keys(rest).length && typeof i === 'string' && /^blk_[0-9A-Z]{26}$/.test(i) ? i : undefined)));
    const items = rows.slice(0, limit);
    return { items: items.map(toView), nextCursor: rows.length > limit ? encodeCursor({ i: items[items.length - 1].id }) : null };
  }

  /** Screening: the active entries blocking this number, as rules that fired (reason `blocklisted`). */
  async screen(tx: Tx, e164: string, now: Date): Promise<RiskRuleHit[]> {
    return blocklistRules(await this.repo.hits(tx, e164, prefixesOf(e164), now));
  }

  /** Exactly one of `number` (a valid E.164 number) and `prefix` (`+` and 2 to 15 digits). */
  private target(dto: CreateBlocklistEntryDto): { kind: BlocklistKind; value: string } {
    const given = (['number', 'prefix'] as const).filter((k) => dto[k] !== undefined && dto[k] !== null);
    if (given.length !== 1) {
      const message = given.length ? 'give either number or prefix, not both' : 'give number (E.164) or prefix';
      throw Problems.validation([{ field: given.length ? 'prefix' : 'number', message }]);
    }
    const bad = (field: string, message: string): never => {
      throw Problems.validation([{ field, message } satisfies FieldError]);
    };
    if (given[0] === 'number') {
      const value = dto.number as string;
      if (!E164.test(value)) bad('number', 'number must be in E.164 form (+819012345678)');
      try {
        if (parseNumber(value).e164 !== value) bad('number', 'number must be in E.164 form (+819012345678)');
      } catch (err) {
        if (err instanceof InvalidPhoneNumber) bad('number', `number ${err.reason}`);
        throw err;
      }
      return { kind: 'number', value };
    }
    const value = dto.prefix as string;
    if (!PREFIX.test(value)) bad('prefix', 'prefix must be + followed by 2 to 15 digits of an E.164 number (+8190123)');
    return { kind: 'prefix', value };
  }

  /** A number entry's number goes in as the event's phone number (stored hashed and masked, never in clear). */
  private event(type: string, e: BlocklistEntry, by: ActingAdmin, extra: Record<string, unknown> = {}): AuditEventInput {
    return {
      type,
      actor: by.actor,
      ip: by.ip,
      phoneNumber: e.kind === 'number' ? e.value : null,
      data: {
        entryId: e.id,
        kind: e.kind,
        ...(e.kind === 'prefix' ? { prefix: e.value } : {}),
        reason: e.reason,
        expiresAt: e.expiresAt,
        ...extra,
      },
    };
  }
}

