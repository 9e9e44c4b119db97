import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditEventInput, AuditService } from '../audit/audit.service';
import type { Principal } from '../clients/auth.decorators';
import { Clock } from '../common/clock';
import { newId } from '../common/ids';
import { InvalidPhoneNumber, ParsedPhone, parsePhone } from '../common/phone';
import { ProblemException } from '../common/problem';
import { combineStatements, SqlParams } from '../common/sql';
import { AppConfig } from '../config/app-config';
import { OutboxDispatcher } from '../gateway/outbox.dispatcher';
import { OutboxRow, OutboxService } from '../gateway/outbox.service';
import { BoundTransaction, codeHmac, generateCode } from './codes';
import { ResendVerificationDto, StartVerificationDto } from './dto/start-verification.dto';
import { VerificationView } from './dto/verification.view';
import { renderMessage } from './message-text';
import { PhoneLimits } from './phone-limits';
import { RISK_SCREENER, RiskScreener } from './risk.port';
import { countSegments } from './segments';
import { effectiveStatus, OPEN_STATUSES, toVerificationView, VerificationRow, VerificationStore } from './verification.store';

export interface StartResult {
  status: 201 | 202;
  body: VerificationView;
}

export interface RequestContext {
  principal: Principal;
  ip: string | null;
}

const SMS_TYPES = ['mobile', 'fixed_line_or_mobile'];
const VOICE_TYPES = ['mobile', 'fixed_line', 'fixed_line_or_mobile'];
const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** SMS needs a mobile number; a call, a number that can take one. */
function assertReachable(phone: ParsedPhone, channel: 'sms' | 'voice'): void {
  if (!(channel === 'sms' ? SMS_TYPES : VOICE_TYPES).includes(phone.numberType)) {
    throw new ProblemException(400, 'unsupported_number_type', `A ${phone.numberType.replace(/_/g, ' ')} number cannot receive ${channel === 'sms' ? 'SMS' : 'calls'}.`, {
      numberType: phone.numberType,
    });
  }
}

export function notPending(status: string): ProblemException {
  return new ProblemException(409, 'verification_not_pending', `The verification is ${status}; only pending verifications can change.`, { verificationStatus: status });
}

/**
 * Starting, resending and cancelling verifications. Each change is one transaction holding the row, its
 * audit events and the outbox row of its message; the message is dispatched only after commit.
 */
@Injectable()
export class IssuanceService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly store: VerificationStore,
    private readonly limits: PhoneLimits,
    private readonly outbox: OutboxService,
    private readonly dispatcher: OutboxDispatcher,
    private readonly audit: AuditService,
    @Inject(RISK_SCREENER) private readonly risk: RiskScreener,
  ) {}

  async start(ctx: RequestContext, dto: StartVerificationDto, idempotencyKey?: string): Promise<StartResult> {
    const phone = this.parse(dto.phoneNumber, dto.country);
    const channel = dto.channel ?? 'sms';
    assertReachable(phone, channel);
    const callbackUrl = this.checkCallbackUrl(dto.callbackUrl);
    const requestHash = createHash('sha256').update(stableJson(dto)).digest();
    const clientId = ctx.principal.clientId;

    // A repeat is answered before anything else runs: screening again could answer differently.
    if (idempotencyKey) {
      const replay = await this.storedAnswer(this.db.manager, clientId, idempotencyKey, requestHash, this.clock.now());
      if (replay) return replay;
    }
    const assessment = await this.risk.screen({ phone, clientId, channel });
    if (assessment.decision === 'deny') {
      throw new ProblemException(403, 'risk_denied', 'Screening refused this phone number.', { reasons: assessment.reasons });
    }

    let message: OutboxRow | undefined;
    const result = await this.db.transaction(async (m) => {
      const now = this.clock.now();
      if (idempotencyKey) {
        const replay = await this.claimIdempotencyKey(m, clientId, idempotencyKey, requestHash, now);
        if (replay) return replay;
      }
      await this.limits.lock(m, phone.e164);
      await this.limits.assertCanStart(m, phone.e164, now);

      const id = newId('vrf', now.getTime());
      const code = generateCode(dto.codeLength ?? 6);
      const key = this.currentKey();
      const ttl = dto.ttlSeconds ?? 300;
      const tx: BoundTransaction | null = dto.transaction
        ? { amount: dto.transaction.amount, currency: dto.transaction.currency.toUpperCase(), payee: dto.transaction.payee }
        : null;
      const screening = assessment.decision === 'screen';
      const row: VerificationRow = {
        id,
        client_id: clientId,
        phone_e164: phone.e164,
        country: phone.country ?? null,
        channel,
        purpose: dto.purpose,
        locale: dto.locale ?? 'ja',
        status: screening ? 'screening' : 'pending',
        code_hmac: codeHmac(key, id, code, tx),
        code_key_id: key.id,
        code_length: code.length,
        ttl_seconds: ttl,
        attempts: 0,
        max_attempts: ctx.principal.maxCheckAttempts ?? this.config.otp.maxAttempts,
        sends: screening ? 0 : 1,
        max_sends: this.config.otp.maxSends,
        expires_at: new Date(now.getTime() + ttl * 1000),
        resend_available_at: this.nextResendAt(now, 1),
        transaction: tx,
        reference: dto.reference ?? null,
        callback_url: callbackUrl,
        risk: assessment,
        created_at: now,
        updated_at: now,
        approved_at: null,
      };
      // The message was just queued: its delivery state is known without reading it back.
      const body = toVerificationView(row, now, screening ? null : { status: 'queued', provider: null, attempts: 1, updatedAt: now.toISOString() });
      const answer: StartResult = { status: screening ? 202 : 201, body };

      // Everything this start writes, in one statement: the row, the message, the audit events, the answer.
      const { p, values } = new SqlParams();
      const statements = [
        `INSERT INTO verifications (id, client_id, phone_e164, country, channel, purpose, locale, status, code_hmac, code_key_id, code_length,
                                    ttl_seconds, max_attempts, sends, max_sends, expires_at, resend_available_at, transaction, reference,
                                    callback_url, risk, created_at, updated_at)
         VALUES (${[
           row.id, row.client_id, row.phone_e164, row.country, row.channel, row.purpose, row.locale, row.status, row.code_hmac, row.code_key_id,
           row.code_length, row.ttl_seconds, row.max_attempts, row.sends, row.max_sends, row.expires_at, row.resend_available_at,
         ].map(p).join(', ')}, ${p(tx ? JSON.stringify(tx) : null)}::jsonb, ${p(row.reference)}, ${p(row.callback_url)}, ${p(JSON.stringify(assessment))}::jsonb, ${p(now)}, ${p(now)})`,
      ];
      const events: AuditEventInput[] = [
        {
          type: 'verification.created',
          actor: { type: 'client', id: ctx.principal.keyId },
          clientId,
          verificationId: id,
          phoneNumber: phone.e164,
          ip: ctx.ip,
          data: {
            status: row.status, channel, purpose: dto.purpose, locale: row.locale, codeLength: code.length, ttlSeconds: ttl,
            codeKeyId: key.id, risk: assessment, transaction: tx, reference: row.reference, idempotencyKey: idempotencyKey ?? null,
          },
        },
      ];
      if (!screening) {
        const queued = this.codeStatements(row, code, now, ctx.principal.keyId, p);
        message = queued.message;
        statements.push(...queued.statements);
        events.push(queued.event);
      }
      if (idempotencyKey) {
        statements.push(
          `UPDATE idempotency_keys SET response_status = ${p(answer.status)}, response_body = ${p(JSON.stringify(body))} WHERE client_id = ${p(clientId)} AND key = ${p(idempotencyKey)}`,
        );
      }
      statements.push(this.audit.insertSql(events, p).sql);
      await m.query(combineStatements(statements), values);
      return answer;
    });
    if (message) this.dispatcher.dispatchSoon([message]);
    return result;
  }

  async get(ctx: RequestContext, id: string): Promise<VerificationView> {
    const m = this.db.manager;
    return this.store.toView(m, await this.store.findOwn(m, id, ctx.principal.clientId), this.clock.now());
  }

  async resend(ctx: RequestContext, id: string, dto: ResendVerificationDto): Promise<VerificationView> {
    let message: OutboxRow | undefined;
    const view = await this.db.transaction(async (m) => {
      const now = this.clock.now();
      const row = await this.store.findOwn(m, id, ctx.principal.clientId, true);
      const status = effectiveStatus(row, now);
      if (status !== 'pending') throw notPending(status);
      if (row.sends >= row.max_sends) {
        throw new ProblemException(429, 'max_sends_reached', `This verification has sent its ${row.max_sends} codes; start a new one.`);
      }
      if (now < row.resend_available_at) {
        const wait = Math.ceil((row.resend_available_at.getTime() - now.getTime()) / 1000);
        throw new ProblemException(429, 'resend_too_soon', `A new code can be sent at ${row.resend_available_at.toISOString()}.`, {
          resendAvailableAt: row.resend_available_at.toISOString(),
          headers: { 'Retry-After': String(wait) },
        });
      }
      await this.limits.lock(m, row.phone_e164);
      await this.limits.assertCanSend(m, row.phone_e164, now);
      const channel = dto.channel ?? row.channel;
      if (channel !== row.channel) assertReachable(parsePhone(row.phone_e164), channel);
      const code = generateCode(row.code_length);
      const key = this.currentKey();
      const sends = row.sends + 1;
      // The attempt budget is not reset: a resend buys no new guesses.
      const [[updated]]: [VerificationRow[], number] = await m.query(
        `UPDATE verifications SET code_hmac = $2, code_key_id = $3, channel = $4, sends = $5, expires_at = $6, resend_available_at = $7, updated_at = $8
          WHERE id = $1 RETURNING *`,
        [row.id, codeHmac(key, row.id, code, row.transaction), key.id, channel, sends, new Date(now.getTime() + row.ttl_seconds * 1000), this.nextResendAt(now, sends), now],
      );
      const { p, values } = new SqlParams();
      const queued = this.codeStatements(updated, code, now, ctx.principal.keyId, p);
      message = queued.message;
      const resent: AuditEventInput = {
        type: 'verification.resent',
        actor: { type: 'client', id: ctx.principal.keyId },
        clientId: row.client_id,
        verificationId: row.id,
        phoneNumber: row.phone_e164,
        ip: ctx.ip,
        data: { channel, send: sends, codeKeyId: key.id, attemptsUsed: row.attempts },
      };
      // An older message still waiting for a retry would bring a code that no longer works: it is not sent.
      const superseded = `UPDATE outbox SET status = 'failed', payload = NULL, last_error = 'superseded by a resend', delivery_status = 'failed', updated_at = ${p(now)}
                           WHERE verification_id = ${p(row.id)} AND kind IN ('sms', 'voice') AND status = 'pending'`;
      await m.query(combineStatements([superseded, ...queued.statements, this.audit.insertSql([resent, queued.event], p).sql]), values);
      return this.store.toView(m, updated, now);
    });
    if (message) this.dispatcher.dispatchSoon([message]);
    return view;
  }

  async cancel(ctx: RequestContext, id: string): Promise<VerificationView> {
    return this.db.transaction(async (m) => {
      const now = this.clock.now();
      const row = await this.store.findOwn(m, id, ctx.principal.clientId, true);
      const status = effectiveStatus(row, now);
      if (!OPEN_STATUSES.includes(status)) throw notPending(status);
      const [[updated]]: [VerificationRow[], number] = await m.query(
        `UPDATE verifications SET status = 'canceled', updated_at = $2 WHERE id = $1 RETURNING *`,
        [row.id, now],
      );
      await this.audit.record(m, {
        type: 'verification.canceled',
        actor: { type: 'client', id: ctx.principal.keyId },
        clientId: row.client_id,
        verificationId: row.id,
        phoneNumber: row.phone_e164,
        ip: ctx.ip,
        data: { previousStatus: row.status },
      });
      return this.store.toView(m, updated, now);
    });
  }

  /** Renders the message and counts its segments; returns the writes that queue it (send record, outbox row) and its audit event. */
  private codeStatements(row: VerificationRow, code: string, now: Date, keyId: string, p: SqlParams['p']): { message: OutboxRow; statements: string[]; event: AuditEventInput } {
    const body = renderMessage({
      channel: row.channel,
      locale: row.locale,
      serviceName: this.config.serviceName,
      code,
      ttlSeconds: row.ttl_seconds,
      purpose: row.purpose,
      transaction: row.transaction,
      webOtpDomain: row.channel === 'sms' ? this.config.otp.webOtpDomain : undefined,
    });
    const segments = row.channel === 'sms' ? countSegments(body).segments : null;
    const { row: message, sql } = this.outbox.messageSql(
      { channel: row.channel, verificationId: row.id, clientId: row.client_id, payload: { to: row.phone_e164, body, locale: row.locale }, segments, now },
      p,
    );
    return {
      message,
      statements: [this.limits.recordSendSql(row.phone_e164, row.id, now, p), sql],
      event: {
        type: 'message.queued',
        actor: { type: 'client', id: keyId },
        clientId: row.client_id,
        verificationId: row.id,
        phoneNumber: row.phone_e164,
        data: { outboxId: message.id, channel: row.channel, segments, send: row.sends },
      },
    };
  }

  /** Returns the stored answer for a repeat, 409 for the key reused with another body, undefined for a new key. */
  private async claimIdempotencyKey(m: EntityManager, clientId: string, key: string, hash: Buffer, now: Date): Promise<StartResult | undefined> {
    await m.query(`DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND created_at < $3`, [clientId, key, new Date(now.getTime() - IDEMPOTENCY_WINDOW_MS)]);
    // A concurrent request with the same key blocks here until the first one commits (or rolls back).
    const inserted: unknown[] = await m.query(
      `INSERT INTO idempotency_keys (client_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING key`,
      [clientId, key, hash, now],
    );
    if (inserted.length) return undefined;
    const stored = await this.storedAnswer(m, clientId, key, hash, now);
    if (!stored) throw new ProblemException(409, 'idempotency_key_in_use', 'A request with this Idempotency-Key is still being processed; retry shortly.');
    return stored;
  }

  /** The first answer to this key (409 if the key came with another body), or undefined if there is none yet. */
  private async storedAnswer(m: EntityManager, clientId: string, key: string, hash: Buffer, now: Date): Promise<StartResult | undefined> {
    const [existing]: Array<{ request_hash: Buffer; response_status: number | null; response_body: VerificationView | null }> = await m.query(
      `SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND created_at >= $3`,
      [clientId, key, new Date(now.getTime() - IDEMPOTENCY_WINDOW_MS)],
    );
    if (!existing) return undefined;
    if (!existing.request_hash.equals(hash)) {
      throw new ProblemException(409, 'idempotency_key_reused', 'This Idempotency-Key was used with another request body in the last 24 hours.');
    }
    if (existing.response_status === null || !existing.response_body) return undefined;
    return { status: existing.response_status as 201 | 202, body: existing.response_body };
  }

  private parse(input: string, country?: string): ParsedPhone {
    try {
      return parsePhone(input, country);
    } catch (err) {
      if (err instanceof InvalidPhoneNumber) {
        throw new ProblemException(400, 'invalid_phone_number', `phoneNumber ${err.reason}.`, { errors: [{ field: 'phoneNumber', message: `phoneNumber ${err.reason}` }] });
      }
      throw err;
    }
  }

  private checkCallbackUrl(url: string | undefined): string | null {
    if (!url) return null;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      parsed = new URL('invalid:');
    }
    const okProtocol = parsed.protocol === 'https:' || (parsed.protocol === 'http:' && !this.config.isProduction);
    if (!okProtocol || !parsed.hostname || parsed.username || parsed.password) {
      const message = `callbackUrl must be an https URL${this.config.isProduction ? '' : ' (http is allowed outside production)'} without credentials`;
      throw new ProblemException(400, 'validation_failed', message, { errors: [{ field: 'callbackUrl', message }] });
    }
    return parsed.toString();
  }

  private currentKey() {
    const keys = this.config.otpHmacKeys;
    return keys[keys.length - 1];
  }

  /** Cooldown doubles with each send: 30 s after the first, 60 s after the second, 120 s… */
  private nextResendAt(now: Date, sends: number): Date {
    return new Date(now.getTime() + this.config.otp.resendCooldownSeconds * 1000 * 2 ** (sends - 1));
  }
}
