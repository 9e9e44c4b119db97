import { hash } from 'node:crypto';

/**
 * The hash chain of the audit trail, as pure functions (no database): the sequencer uses them to chain
 * events, the integrity check and the export verifier to check them.
 *
 *   hash(n) = SHA-256( hash(n-1) ‖ UTF-8( canonical(event n) ) ),   hash(0) = 32 zero bytes (or a checkpoint's hash)
 *
 * `canonical` is a JSON array in a fixed field order, starting with a version tag, with `data` written as
 * canonical JSON (object keys sorted, no whitespace). The sequence number is inside the hashed bytes, so
 * renumbering, removing or inserting an event breaks the chain at that point.
 */

export const CHAIN_VERSION = 'otp-audit-v1';
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** The fields of one event that the chain covers, as stored (and read back from) the database. */
export interface ChainedEvent {
  seq: number;
  id: string;
  type: string;
  occurredAt: Date;
  clientId: string | null;
  verificationId: string | null;
  phoneHash: Buffer | null;
  phoneMasked: string | null;
  actorType: string;
  actorId: string | null;
  ip: string | null;
  data: unknown;
}

export class NotCanonicalJson extends Error {
  constructor(path: string, what: string) {
    super(`${path || 'value'} is ${what}, which JSON cannot represent`);
    this.name = 'NotCanonicalJson';
  }
}

/**
 * A refusal on its way out of a nested value: each level it passes puts its key (or element index) in front, so
 * the path is written only for a refusal, never for the members that pass (canonicalJson, sanitizeAuditData).
 */
export class NestedRefusal {
  readonly steps: Array<string | number> = [];
  constructor(readonly reason: string) {}

  /** `walk(value)` for a member at `step` (a key or an element's index): a refusal from below gets `step` put in front. */
  static member<T>(walk: (value: unknown) => T, step: string | number, value: unknown): T {
    try {
      return walk(value);
    } catch (err) {
      if (err instanceof NestedRefusal) err.steps.unshift(step);
      throw err;
    }
  }

  /** As `a.b[2].c`: '' at the top. */
  get path(): string {
    let out = '';
    for (const step of this.steps) out += typeof step === 'number' ? `[${step}]` : (out ? '.' : '') + step;
    return out;
  }
}

/**
 * JSON with object keys sorted (by UTF-16 code units, as Array.prototype.sort does) and no whitespace,
 * so that the same value always gives the same text whatever the key order PostgreSQL's jsonb returns.
 * Only JSON values are accepted: no undefined, functions, symbols, bigints, NaN or Infinity.
 */
export function canonicalJson(value: unknown): string {
  try {
    return write(value);
  } catch (err) {
    if (err instanceof NestedRefusal) throw new NotCanonicalJson(err.path, err.reason);
    throw err;
  }
}

/** Appends to one string per level (no array of parts per object, no path per member: it runs twice per event). */
function write(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new NestedRefusal(String(value));
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + NestedRefusal.member(write, i, value[i]);
        return out + ']';
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new NestedRefusal(`a ${proto?.constructor?.name ?? 'non-plain'} object`);
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) out += (i ? ',' : '') + JSON.stringify(keys[i]) + ':' + NestedRefusal.member(write, keys[i], obj[keys[i]]);
      return out + '}';
    }
    default:
      throw new NestedRefusal(typeof value);
  }
}

/** The exact bytes (as a string) that the chain hashes for one event. */
export function canonicalEncoding(e: ChainedEvent): string {
  // The JSON array [version, seq, id, type, occurredAt, clientId, verificationId, phoneHash hex, phoneMasked,
  // actorType, actorId, ip, data], written by concatenation: this runs once per event when chaining and
  // when verifying, so it avoids building an array per event.
  return (
    '["' +
    CHAIN_VERSION +
    '",' +
    JSON.stringify(e.seq) +
    ',' +
    JSON.stringify(e.id) +
    ',' +
    JSON.stringify(e.type) +
    ',"' +
    e.occurredAt.toISOString() +
    '",' +
    jsonOrNull(e.clientId) +
    ',' +
    jsonOrNull(e.verificationId) +
    ',' +
    (e.phoneHash ? '"' + e.phoneHash.toString('hex') + '"' : 'null') +
    ',' +
    jsonOrNull(e.phoneMasked) +
    ',' +
    JSON.stringify(e.actorType) +
    ',' +
    jsonOrNull(e.actorId) +
    ',' +
    jsonOrNull(e.ip) +
    ',' +
    canonicalJson(e.data) +
    ']'
  );
}

function jsonOrNull(v: string | null): string {
  return v === null ? 'null' : JSON.stringify(v);
}

/** Scratch space for one event's hashed bytes, grown when an event needs more. */
let scratch = Buffer.allocUnsafe(4096);

export function chainHash(prevHash: Buffer, e: ChainedEvent): Buffer {
  const text = canonicalEncoding(e);
  const n = prevHash.length;
  const needed = n + Buffer.byteLength(text, 'utf8');
  if (scratch.length < needed) scratch = Buffer.allocUnsafe(Math.max(needed, scratch.length * 2));
  prevHash.copy(scratch, 0);
  scratch.write(text, n, 'utf8');
  // One-shot hashing of prevHash ‖ UTF-8(text): no Hash object per event (a million of them per integrity walk).
  return hash('sha256', scratch.subarray(0, needed), 'buffer');
}

export interface ChainLink {
  seq: number;
  hash: Buffer;
}

export interface StoredChainedEvent extends ChainedEvent {
  prevHash: Buffer | null;
  hash: Buffer | null;
}

export type ChainBreak = 'missing_event' | 'unexpected_event' | 'prev_hash_mismatch' | 'hash_mismatch' | 'head_mismatch';

export interface ChainCheckResult {
  ok: boolean;
  /** Events examined, the broken one included. */
  checked: number;
  /** The last hash that verified (the start's when none did). */
  head: string;
  headSeq: number;
  firstBrokenSeq?: number;
  reason?: ChainBreak;
}

/**
 * Walks a chain one event at a time in sequence order, keeping only the previous link: memory stays flat
 * however long the chain. Stops at the first break. Sequence numbers increase but may have gaps (a number
 * whose transaction rolled back is never used); a removed event shows as a link that does not match, or,
 * where the walk knows a link exists without its event, through missing().
 */
export class ChainVerifier {
  private lastSeq: number;
  private prev: Buffer;
  private checked = 0;
  private broken?: { seq: number; reason: ChainBreak };

  constructor(start: ChainLink = { seq: 0, hash: GENESIS_HASH }) {
    this.lastSeq = start.seq;
    this.prev = start.hash;
  }

  get isBroken(): boolean {
    return this.broken !== undefined;
  }

  /** Checks the next event; false once the chain is broken (further events are ignored). */
  push(e: StoredChainedEvent): boolean {
    if (this.broken) return false;
    this.checked++;
    if (!(e.seq > this.lastSeq)) {
      // An ordered walk never goes back: the rows were renumbered.
      this.broken = { seq: e.seq, reason: 'unexpected_event' };
      return false;
    }
    if (!e.prevHash || !e.prevHash.equals(this.prev)) {
      this.broken = { seq: e.seq, reason: 'prev_hash_mismatch' };
      return false;
    }
    if (!e.hash || !chainHash(this.prev, e).equals(e.hash)) {
      this.broken = { seq: e.seq, reason: 'hash_mismatch' };
      return false;
    }
    this.prev = e.hash;
    this.lastSeq = e.seq;
    return true;
  }

  /** The chain has a link at `seq` but its event is gone. */
  missing(seq: number): false {
    if (!this.broken) {
      this.checked++;
      this.broken = { seq, reason: 'missing_event' };
    }
    return false;
  }

  /**
   * The result. `expectedHead` is the head the sequencer recorded: a chain that ends before it lost its
   * last events, one that ends on another hash was rewritten.
   */
  finish(expectedHead?: ChainLink): ChainCheckResult {
    const headSeq = this.lastSeq;
    if (!this.broken && expectedHead) {
      if (expectedHead.seq > headSeq) this.broken = { seq: headSeq + 1, reason: 'missing_event' };
      else if (expectedHead.seq < headSeq) this.broken = { seq: expectedHead.seq + 1, reason: 'unexpected_event' };
      else if (!expectedHead.hash.equals(this.prev)) this.broken = { seq: headSeq, reason: 'head_mismatch' };
    }
    const result: ChainCheckResult = { ok: !this.broken, checked: this.checked, head: this.prev.toString('hex'), headSeq };
    if (this.broken) {
      result.firstBrokenSeq = this.broken.seq;
      result.reason = this.broken.reason;
    }
    return result;
  }
}

/** Links events that already carry their seq (in increasing order) after `prevHash`: what the sequencer does to a batch. */
export function linkEvents<T extends ChainedEvent>(prevHash: Buffer, events: T[]): Array<T & { prevHash: Buffer; hash: Buffer }> {
  let prev = prevHash;
  return events.map((e) => {
    const hash = chainHash(prev, e);
    const linked = Object.assign({}, e, { prevHash: prev, hash });
    prev = hash;
    return linked;
  });
}

/** Events hashed between two turns of the event loop when a batch is linked in slices (about 2 ms of hashing here). */
export const LINK_SLICE = 250;

/**
 * `linkEvents` in slices of `slice` events, awaiting `pause()` between two slices: a batch of thousands (the
 * sequencer catching up after a pause) would otherwise hold the event loop for its whole hashing, 35–50 ms for
 * 5,000 events, and every request of the instance would wait that long. The links are the same as `linkEvents`'s.
 */
export async function linkEventsInSlices<T extends ChainedEvent>(
  prevHash: Buffer,
  events: T[],
  pause: () => Promise<unknown>,
  slice = LINK_SLICE,
): Promise<Array<T & { prevHash: Buffer; hash: Buffer }>> {
  const linked: Array<T & { prevHash: Buffer; hash: Buffer }> = [];
  let prev = prevHash;
  for (let i = 0; i < events.length; i += slice) {
    if (i > 0) await pause();
    for (const e of linkEvents(prev, events.slice(i, i + slice))) linked.push(e);
    prev = linked[linked.length - 1].hash;
  }
  return linked;
}

/** Numbers events after `start` in the order given and links them (tests and tools; the database numbers real events). */
export function chainEvents<T extends Omit<ChainedEvent, 'seq'>>(
  start: ChainLink,
  events: T[],
): Array<T & { seq: number; prevHash: Buffer; hash: Buffer }> {
  return linkEvents(
    start.hash,
    events.map((e, i) => Object.assign({}, e, { seq: start.seq + i + 1 })),
  );
}
