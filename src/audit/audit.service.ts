import { createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { newId } from '../common/ids';
import { maskPhone } from '../common/phone';
import { SqlParams } from '../common/sql';
import type { Queryable, Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { sanitizeAuditData } from './audit-data';

export type AuditActorType = 'client' | 'admin' | 'system' | 'provider';
const ACTOR_TYPES: readonly string[] = ['client', 'admin', 'system', 'provider'];

export interface AuditEventInput {
  /** e.g. 'verification.created', 'client.created', 'audit.read' */
  type: string;
  /** id: client id, key id, provider name… */
  actor: { type: AuditActorType; id?: string | null };
  clientId?: string | null;
  verificationId?: string | null;
  /** E.164; stored only as an HMAC (for search) and in masked form. */
  phoneNumber?: string | null;
  ip?: string | null;
  /** Never codes, API keys or provider secrets: record() refuses keys named like them. */
  data?: Record<string, unknown>;
}

const TYPE = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/;
const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * Writes audit events. Other modules call `record(tx, event)` (or `defer(tx, events)` to join the
 * transaction's combined statement) inside their own transaction, so the state change and its events
 * commit or roll back together. The insert takes no lock beyond its own row: ordering and chaining happen
 * later, in the AuditSequencer.
 */
@Injectable()
export class AuditService {
  private readonly phoneKey: Buffer;

  constructor(
    private readonly clock: Clock,
    config: AppConfig,
  ) {
    this.phoneKey = config.audit.phoneHashKey;
  }

  /** Inserts the event now, inside the caller's transaction (a Tx or an EntityManager). Returns the evt_ id. */
  async record(q: Queryable, event: AuditEventInput): Promise<string> {
    const params = new SqlParams();
    const { sql, ids } = this.insertSql([event], params.p);
    await q.query(sql, params.values);
    return ids[0];
  }

  /** Adds the INSERT of these events to the transaction's combined statement (one round trip with the state change). */
  defer(tx: Tx, events: AuditEventInput[]): void {
    if (events.length) tx.defer((p) => this.insertSql(events, p).sql);
  }

  /**
   * The INSERT of these events, with its bind values taken through `p`, for a caller that runs it as part
   * of a larger statement (combineStatements) so that a state change and its events cost one round trip.
   */
  insertSql(events: AuditEventInput[], p: SqlParams['p']): { sql: string; ids: string[] } {
    const now = this.clock.now();
    // Events of one statement share a time; sorted ids keep their order in the chain ((occurred_at, id)).
    const ids = events.map(() => newId('evt', now.getTime())).sort();
    const tuples = events.map((event, i) => `(${[ids[i], ...this.values(event, now)].map((v) => p(v)).join(', ')})`);
    return {
      sql: `INSERT INTO audit_events (id, type, occurred_at, client_id, verification_id, phone_hash, phone_masked, actor_type, actor_id, ip, data) VALUES ${tuples.join(', ')}`,
      ids,
    };
  }

  /** Validates one event and returns its column values after the id, in the order of insertSql's column list. */
  private values(event: AuditEventInput, now: Date): unknown[] {
    if (typeof event.type !== 'string' || event.type.length > 64 || !TYPE.test(event.type)) {
      throw new Error(`audit event type "${String(event.type)}" must look like "subject.action" (lower case, at most 64 characters)`);
    }
    if (!event.actor || !ACTOR_TYPES.includes(event.actor.type)) throw new Error(`audit actor type must be one of ${ACTOR_TYPES.join(', ')}`);
    const data = sanitizeAuditData(event.data);
    let phoneHash: Buffer | null = null;
    let phoneMasked: string | null = null;
    if (event.phoneNumber) {
      if (!E164.test(event.phoneNumber)) throw new Error('audit phoneNumber must be normalized E.164 (parsePhone(...).e164)');
      phoneHash = this.phoneHash(event.phoneNumber);
      phoneMasked = maskPhone(event.phoneNumber);
    }
    return [
      event.type,
      now,
      event.clientId ?? null,
      event.verificationId ?? null,
      phoneHash,
      phoneMasked,
      event.actor.type,
      event.actor.id ?? null,
      event.ip ?? null,
      JSON.stringify(data),
    ];
  }

  /** HMAC-SHA256 of a normalized E.164 number: how events are found by phone number. */
  phoneHash(e164: string): Buffer {
    return createHmac('sha256', this.phoneKey).update(e164, 'utf8').digest();
  }
}
