import type { StoredChainedEvent } from './audit-chain';
import type { AuditEventView } from './dto/audit-event.views';

/** An event's columns (table alias `e`), read wherever events are chained, verified, listed or exported. */
export const EVENT_COLUMNS = 'e.id, e.seq, e.type, e.occurred_at, e.client_id, e.verification_id, e.phone_hash, e.phone_masked, e.actor_type, e.actor_id, e.ip, e.data';

/** Events with their chain link when they have one: SELECT ${CHAINED_COLUMNS} FROM ${EVENTS_WITH_LINKS}. */
export const CHAINED_COLUMNS = `${EVENT_COLUMNS}, c.prev_hash, c.hash`;
export const EVENTS_WITH_LINKS = 'audit_events e LEFT JOIN audit_chain c ON c.seq = e.seq';

/**
 * Appends a batch of links to audit_chain in one statement: `INSERT_LINKS_SQL` with `insertLinksParams(links)`.
 * The hashes go as two bytea parameters of 32 bytes per link, which the driver sends as binary, instead of two
 * arrays of hex text that the driver writes and PostgreSQL parses back, link by link.
 */
export const INSERT_LINKS_SQL = `INSERT INTO audit_chain (seq, prev_hash, hash)
  SELECT l.seq, substring($2::bytea FROM l.i::int * 32 - 31 FOR 32), substring($3::bytea FROM l.i::int * 32 - 31 FOR 32)
    FROM unnest($1::bigint[]) WITH ORDINALITY AS l(seq, i)`;

export function insertLinksParams(links: ReadonlyArray<{ seq: number; prevHash: Buffer; hash: Buffer }>): [string[], Buffer, Buffer] {
  // A hash of another length would shift every later link's bytes, which no CHECK on the table could see.
  const bad = links.find((l) => l.prevHash.length !== 32 || l.hash.length !== 32);
  if (bad) throw new Error(`audit chain link ${bad.seq}: hashes must be 32 bytes`);
  return [links.map((l) => String(l.seq)), Buffer.concat(links.map((l) => l.prevHash)), Buffer.concat(links.map((l) => l.hash))];
}

export interface AuditEventRow {
  id: string;
  seq: string;
  type: string;
  occurred_at: Date;
  client_id: string | null;
  verification_id: string | null;
  phone_hash: Buffer | null;
  phone_masked: string | null;
  actor_type: string;
  actor_id: string | null;
  ip: string | null;
  data: unknown;
  /** From audit_chain; absent or null while the event is not chained. */
  prev_hash?: Buffer | null;
  hash?: Buffer | null;
}

/** An event as stored; `prevHash` and `hash` are null while the sequencer has not chained it yet. */
export type AuditEventRecord = StoredChainedEvent;

export function fromRow(row: AuditEventRow): AuditEventRecord {
  return {
    id: row.id,
    seq: Number(row.seq),
    type: row.type,
    occurredAt: row.occurred_at,
    clientId: row.client_id,
    verificationId: row.verification_id,
    phoneHash: row.phone_hash,
    phoneMasked: row.phone_masked,
    actorType: row.actor_type,
    actorId: row.actor_id,
    ip: row.ip,
    data: row.data ?? {},
    prevHash: row.prev_hash ?? null,
    hash: row.hash ?? null,
  };
}

/**
 * One line of an NDJSON export or a retention archive: the API shape plus `phoneHash`, the one stored
 * field the chain covers that the list answer leaves out, so that an export can be verified offline.
 */
export type AuditExportLine = AuditEventView & { phoneHash: string | null };

export function toExportLine(e: AuditEventRecord): AuditExportLine {
  return Object.assign(toView(e), { phoneHash: e.phoneHash ? e.phoneHash.toString('hex') : null });
}

/** Reads an export line back into the stored form, for offline verification with ChainVerifier. */
export function fromExportLine(line: AuditExportLine): AuditEventRecord {
  return {
    id: line.id,
    seq: line.seq,
    type: line.type,
    occurredAt: new Date(line.occurredAt),
    clientId: line.clientId,
    verificationId: line.verificationId,
    phoneHash: line.phoneHash ? Buffer.from(line.phoneHash, 'hex') : null,
    phoneMasked: line.phoneNumber,
    actorType: line.actor.type,
    actorId: line.actor.id,
    ip: line.ip,
    data: line.data,
    prevHash: line.prevHash ? Buffer.from(line.prevHash, 'hex') : null,
    hash: line.hash ? Buffer.from(line.hash, 'hex') : null,
  };
}

/** The API shape (API.md, Admin): the phone number only masked, hashes in hex, `chained` marks pending events. */
export function toView(e: AuditEventRecord): AuditEventView {
  return {
    id: e.id,
    seq: e.seq,
    chained: e.hash !== null,
    type: e.type,
    occurredAt: e.occurredAt.toISOString(),
    clientId: e.clientId,
    verificationId: e.verificationId,
    phoneNumber: e.phoneMasked,
    actor: { type: e.actorType, id: e.actorId },
    ip: e.ip,
    data: (e.data ?? {}) as Record<string, unknown>,
    hash: e.hash ? e.hash.toString('hex') : null,
    prevHash: e.prevHash ? e.prevHash.toString('hex') : null,
  };
}
