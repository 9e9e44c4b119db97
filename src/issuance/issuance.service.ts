import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { AuditEventInput, AuditService } from '../audit/audit.service';
import type { Principal } from '../common/auth';
import { Clock } from '../common/clock';
import { DomainEvents, EventBus } from '../common/events';
import { newId } from '../common/ids';
import { ProblemException } from '../common/problem';
import type { Tx } from '../common/tx';
import { WebhookDestinations } from '../common/webhook-destinations';
import type { TestScript } from '../common/test-numbers';
import { AppConfig } from '../config/app-config';
import { TestNumbersService } from '../clients/test-numbers.service';
import { Transactions } from '../database/transactions';
import { OutboxService } from '../gateway/outbox.service';
import { assertReachable, parseNumber } from '../risk/phone-numbers';
import { RISK_SCREENER, RiskAssessment, RiskScreener } from '../risk/risk.port';
import { CodeHasher } from './code-hasher';
import { generateCode } from './codes';
import { ResendVerificationDto, StartVerificationDto } from './dto/start-verification.dto';
import { VerificationView } from './dto/verification.view';
import { IdempotencyRepository, StoredAnswer } from './idempotency.repository';
import { MessageComposer } from './message-composer';
import { StartInput, startInput } from './start-input';
import { effectiveStatus, OPEN_STATUSES } from './verification-transitions';
import { toVerificationView, VerificationViews } from './verification-views';
import type { Verification } from './verification';
import { VerificationsRepository } from './verifications.repository';

export type StartResult = StoredAnswer;

export interface RequestContext {
  principal: Principal;
  ip: string | null;
}

/** An audit event by the calling client's API key about verification `v`. */
export function clientEvent(ctx: RequestContext, v: Verification, type: string, data: Record<string, unknown>): AuditEventInput {
  return { type, actor: { type: 'client', id: ctx.principal.keyId }, clientId: v.clientId, verificationId: v.id, phoneNumber: v.phoneE164, ip: ctx.ip, data: testMarked(v, data) };
}

/** The audit data of an event about `v`, with `test: true` when it is a verification of a test number. */
export function testMarked(v: Pick<Verification, 'test'>, data: Record<string, unknown>): Record<string, unknown> {
  return v.test ? Object.assign({}, data, { test: true }) : data;
}

/**
 * 403 `risk_denied`: screening refused the number. Carries the decision record out of the rolled-back start
 * transaction, so that the denial is audited (`risk.denied`) although no verification was created.
 */
class ScreeningDenied extends ProblemException {
  constructor(readonly assessment: RiskAssessment) {
    super(403, 'risk_denied', 'Screening refused this phone number.', { reasons: assessment.reasons });
  }
}

export function notPending(status: string): ProblemException {
  return new ProblemException(409, 'verification_not_pending', `The verification is ${status}; only pending verifications can change.`, { verificationStatus: status });
}

/**
 * Starting, resending and cancelling verifications: orchestration only. Each change is one transaction
 * holding the row, its audit events and the outbox row of its message (written as one combined statement
 * on the hot path); the message is dispatched only after commit.
 */
@Injectable()
export class IssuanceService implements OnModuleInit {
  constructor(
    private readonly transactions: Transactions,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly verifications: VerificationsRepository,
    private readonly idempotency: IdempotencyRepository,
    private readonly views: VerificationViews,
    private readonly hasher: CodeHasher,
    private readonly composer: MessageComposer,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
    private readonly events: EventBus,
    @Inject(RISK_SCREENER) private readonly risk: RiskScreener,
    private readonly destinations: WebhookDestinations,
    private readonly testNumbers: TestNumbersService,
  ) {}

  onModuleInit(): void {
    this.events.subscribe('voice_contract.decided', 'IssuanceService.onVoiceContractDecided', (tx, e) => this.onVoiceContractDecided(tx, e));
  }

  async start(ctx: RequestContext, dto: StartVerificationDto, idempotencyKey?: string): Promise<StartResult> {
    const input = startInput(dto, this.destinations);
    // A repeat is answered by the key's claim, the transaction's first statement, before screening (which could
    // answer differently now): no read ahead of it, so a new key costs one round trip and not two.
    return this.transactions.run((tx) => this.startIn(tx, ctx, dto, input, idempotencyKey)).catch(async (err: unknown) => {
      if (err instanceof ScreeningDenied) await this.recordDenial(ctx, dto, input, err.assessment);
      throw err;
    });
  }

  /**
   * A denied start writes nothing of its own (its transaction rolls back: no verification, no idempotency
   * claim, so a retry with the same key is screened again) but its decision record, as `risk.denied`.
   */
  private async recordDenial(ctx: RequestContext, dto: StartVerificationDto, input: StartInput, assessment: RiskAssessment): Promise<void> {
    const event: AuditEventInput = {
      type: 'risk.denied',
      actor: { type: 'client', id: ctx.principal.keyId },
      clientId: ctx.principal.clientId,
      phoneNumber: input.phone.e164,
      ip: ctx.ip,
      data: { risk: assessment, channel: input.channel, purpose: dto.purpose, reference: dto.reference ?? null },
    };
    await this.transactions.statement((tx) => this.audit.defer(tx, [event]));
  }

  private async startIn(tx: Tx, ctx: RequestContext, dto: StartVerificationDto, input: StartInput, idempotencyKey: string | undefined): Promise<StartResult> {
    const clientId = ctx.principal.clientId;
    const now = this.clock.now();
    if (idempotencyKey) {
      const replay = await this.idempotency.claim(tx, clientId, idempotencyKey, input.requestHash, now);
      if (replay) return replay;
    }
    // One of the client's test numbers (only looked up when it has some it may use here): a fixed code, no provider.
    const testNumber = await this.testNumbers.match(tx, ctx.principal, input.phone.e164, dto.codeLength);
    if (testNumber && dto.codeLength !== undefined && dto.codeLength !== testNumber.code.length) {
      throw new ProblemException(400, 'validation_failed', `This test number's fixed code has ${testNumber.code.length} digits: leave codeLength out or give ${testNumber.code.length}.`, {
        errors: [{ field: 'codeLength', message: `must be ${testNumber.code.length} for this test number` }],
      });
    }
    const test: TestScript | null = testNumber ? { testNumberId: testNumber.testNumberId, deliveryStatus: testNumber.deliveryStatus, ivrOutcome: testNumber.ivrOutcome } : null;
    const { countries, numberTypes, voiceContract, pumping } = ctx.principal;
    const endUser = dto.endUser && { ip: dto.endUser.ip, deviceId: dto.endUser.deviceId, accountRef: dto.endUser.accountRef };
    const assessment = await this.risk.screen(tx, {
      phone: input.phone, clientId, channel: input.channel, purpose: dto.purpose, locale: dto.locale ?? 'ja', policy: { countries, numberTypes, voiceContract, pumping }, now, endUser,
      ...(test ? { test: { ivrOutcome: test.ivrOutcome } } : {}),
    });
    if (assessment.decision === 'deny') throw new ScreeningDenied(assessment);

    const id = newId('vrf', now.getTime());
    const code = testNumber ? testNumber.code : generateCode(dto.codeLength ?? 6);
    const hashed = this.hasher.hash(id, code, input.transaction);
    const ttl = dto.ttlSeconds ?? 300;
    const screening = assessment.decision === 'screen';
    const row: Verification = {
      id,
      clientId: clientId,
      phoneE164: input.phone.e164,
      country: input.phone.country ?? null,
      channel: input.channel,
      purpose: dto.purpose,
      locale: dto.locale ?? 'ja',
      status: screening ? 'screening' : 'pending',
      codeHmac: hashed.hmac,
      codeKeyId: hashed.keyId,
      codeLength: code.length,
      ttlSeconds: ttl,
      attempts: 0,
      maxAttempts: ctx.principal.maxCheckAttempts ?? this.config.issuance.maxAttempts,
      sends: screening ? 0 : 1,
      maxSends: this.config.issuance.maxSends,
      // A verification in screening waits for its check (RISK_VOICE_CHECK_WINDOW_SECONDS); its code's lifetime starts when it is sent.
      expiresAt: screening ? this.screeningEnds(assessment, now) : new Date(now.getTime() + ttl * 1000),
      resendAvailableAt: this.nextResendAt(now, 1),
      transaction: input.transaction,
      reference: dto.reference ?? null,
      callbackUrl: input.callbackUrl,
      risk: assessment,
      createdAt: now,
      updatedAt: now,
      approvedAt: null,
      test,
    };
    // The message was just queued: its delivery state is known without reading it back.
    const body = toVerificationView(row, now, screening ? null : { status: 'queued', provider: null, attempts: 1, updatedAt: now.toISOString() });
    const answer: StartResult = { status: screening ? 202 : 201, body };

    // One open verification per number and client (under the number's lock, taken by screening): a new
    // start replaces the open one, whose code stops working and whose queued message is not sent.
    const superseded = await this.verifications.supersedeOpen(tx, clientId, row.phoneE164, now);
    for (const { verification: old } of superseded) this.outbox.supersedeQueued(tx, old.id, now, 'superseded by a new verification');

    // Everything this start writes joins one statement: the row, the message, the audit events, the answer.
    this.verifications.insert(tx, row);
    const events = [
      ...superseded.map(({ verification: old, previousStatus }) => clientEvent(ctx, old, 'verification.superseded', { previousStatus, supersededBy: id })),
      clientEvent(ctx, row, 'verification.created', {
        status: row.status, channel: row.channel, purpose: row.purpose, locale: row.locale, codeLength: code.length, ttlSeconds: ttl,
        codeKeyId: hashed.keyId, risk: assessment, transaction: row.transaction, reference: row.reference, idempotencyKey: idempotencyKey ?? null,
        ...(test ? { test: true, testNumberId: test.testNumberId } : {}),
      }),
    ];
    if (!screening) events.push(this.queueCode(tx, row, test ? null : code, now, { type: 'client', id: ctx.principal.keyId }));
    if (idempotencyKey) this.idempotency.saveAnswer(tx, clientId, idempotencyKey, answer);
    this.audit.defer(tx, events);
    await this.events.publish(tx, 'verification.started', {
      verificationId: id, clientId, phoneE164: row.phoneE164, channel: row.channel, purpose: row.purpose, status: screening ? 'screening' : 'pending', at: now, test: !!test,
    });
    return answer;
  }

  async get(ctx: RequestContext, id: string): Promise<VerificationView> {
    const reader = this.transactions.reader;
    return this.views.view(reader, await this.verifications.findOwn(reader, id, ctx.principal.clientId), this.clock.now());
  }

  async resend(ctx: RequestContext, id: string, dto: ResendVerificationDto): Promise<VerificationView> {
    return this.transactions.run(async (tx) => {
      // The number's lock before the row's, the order a check and a start take them in: the other way round, a
      // resend deadlocked with a check or a new start on the same number. A test number takes no number lock.
      // What the unlocked read refuses stays refused (a final status, sends and the next resend time only move one
      // way), so such a resend answers at once instead of queueing behind the number's checks and starts.
      const seen = await this.verifications.findOwn(tx, id, ctx.principal.clientId);
      assertResendable(seen, this.clock.now());
      if (!seen.test) await this.risk.lockNumber(tx, seen.phoneE164);
      const row = await this.verifications.findOwn(tx, id, ctx.principal.clientId, true);
      const now = this.clock.now(); // after any wait for the locks
      assertResendable(row, now);
      // A test number's sends reach no provider: they count against no number's send limits.
      if (!row.test) await this.risk.screenResend(tx, row.phoneE164, now);
      const channel = dto.channel ?? row.channel;
      if (channel !== row.channel) {
        // The other channel must be one the number can receive and the client's policy allows for it.
        const phone = parseNumber(row.phoneE164);
        assertReachable(phone, channel);
        const { countries, numberTypes, voiceContract, pumping } = ctx.principal;
        const denials = this.risk.channelDenials(phone, channel, { countries, numberTypes, voiceContract, pumping });
        if (denials.length) throw new ScreeningDenied({ decision: 'deny', reasons: [...new Set(denials.map((d) => d.reason))], rules: denials });
      }
      // A test number's code is fixed: its stored form stays (the code it accepts is the one it had).
      const code = row.test ? null : generateCode(row.codeLength);
      const hashed = code === null ? { hmac: row.codeHmac, keyId: row.codeKeyId } : this.hasher.hash(row.id, code, row.transaction);
      const sends = row.sends + 1;
      const updated = await this.verifications.resend(
        tx,
        row.id,
        { codeHmac: hashed.hmac, codeKeyId: hashed.keyId, channel, sends, expiresAt: new Date(now.getTime() + row.ttlSeconds * 1000), resendAvailableAt: this.nextResendAt(now, sends) },
        now,
      );
      if (!updated) throw notPending(row.status); // not reached: the row is locked and was pending
      // An older message being sent or waiting for a retry would bring a code that no longer works: it is not sent again.
      this.outbox.supersedeQueued(tx, row.id, now, 'superseded by a resend');
      const queued = this.queueCode(tx, updated, code, now, { type: 'client', id: ctx.principal.keyId });
      this.audit.defer(tx, [clientEvent(ctx, row, 'verification.resent', { channel, send: sends, codeKeyId: hashed.keyId, attemptsUsed: row.attempts }), queued]);
      return this.views.view(tx, updated, now);
    });
  }

  async cancel(ctx: RequestContext, id: string): Promise<VerificationView> {
    return this.transactions.run(async (tx) => {
      const now = this.clock.now();
      const row = await this.verifications.findOwn(tx, id, ctx.principal.clientId, true);
      const status = effectiveStatus(row, now);
      if (!OPEN_STATUSES.includes(status)) throw notPending(status);
      const updated = await this.verifications.cancel(tx, row.id, now);
      if (!updated) throw notPending(row.status); // not reached: the row is locked and was open
      // its code, no longer of use, is not sent again (a retry, a takeover)
      this.outbox.supersedeQueued(tx, row.id, now, 'verification canceled');
      this.audit.defer(tx, [clientEvent(ctx, row, 'verification.canceled', { previousStatus: row.status })]);
      return this.views.view(tx, updated, now);
    });
  }

  /**
   * A voice-contract check of a number was decided: its verifications waiting in `screening` are released (their
   * code is sent now) when the contract is confirmed, or the check found nothing and the start's policy allows that;
   * else denied (`no_voice_contract`, `voice_contract_unknown`) and their callers told by webhook.
   */
  private async onVoiceContractDecided(tx: Tx, e: DomainEvents['voice_contract.decided']): Promise<void> {
    const actor = { type: 'system' as const, id: 'risk' };
    // The number's lock first, as a start takes it before it reads the check: a start that read this check as still
    // open and joined it is then committed, and found below, before this looks; a later start reads the decision.
    // (Without it, such a start committing after the look below would wait in `screening` with no decision to come.)
    if (!e.test) await this.risk.lockNumber(tx, e.phoneE164);
    // A test number's check decides only the verification that started it; a real check never decides a test one.
    // `unknown` (nobody answered, no call could be placed) says nothing of the number: it decides only the verifications
    // that waited on this check, not those waiting on a newer one that may still find out. A confirmed or absent
    // contract is the number's, whichever check found it.
    const waiting = await this.verifications.lockScreening(tx, e.phoneE164, e.at, e.test);
    const own = e.test || e.status === 'unknown';
    for (const row of own ? waiting.filter((r) => r.risk.voiceContract?.checkId === e.checkId) : waiting) {
      const allowed = e.status === 'confirmed' || (e.status === 'unknown' && row.risk.voiceContract?.onUnknown === 'allow');
      const reason = e.status === 'confirmed' ? null : e.status === 'absent' ? 'no_voice_contract' : 'voice_contract_unknown';
      const voiceContract = Object.assign({}, row.risk.voiceContract, { status: e.status, method: e.method, checkedAt: e.at.toISOString(), expiresAt: e.expiresAt?.toISOString() ?? null, checkId: e.checkId });
      const rules = [...row.risk.rules, { rule: 'voice_contract', reason: reason ?? 'voice_contract_confirmed', status: e.status, checkId: e.checkId }];
      const event = (type: string, data: Record<string, unknown>): AuditEventInput => ({
        type, actor, clientId: row.clientId, verificationId: row.id, phoneNumber: row.phoneE164, data: testMarked(row, { checkId: e.checkId, voiceContract: e.status, ...data }),
      });
      if (allowed) {
        const code = row.test ? null : generateCode(row.codeLength);
        const hashed = code === null ? { hmac: row.codeHmac, keyId: row.codeKeyId } : this.hasher.hash(row.id, code, row.transaction);
        const risk = Object.assign({}, row.risk, { decision: 'allow' as const, reasons: reason ? [reason] : [], rules, voiceContract });
        const expiresAt = new Date(e.at.getTime() + row.ttlSeconds * 1000);
        const released = await this.verifications.release(tx, row.id, { codeHmac: hashed.hmac, codeKeyId: hashed.keyId, expiresAt, resendAvailableAt: this.nextResendAt(e.at, 1), risk }, e.at);
        if (!released) continue; // not reached: the row is locked and was in screening
        this.audit.defer(tx, [event('verification.released', { codeKeyId: hashed.keyId, expiresAt: expiresAt.toISOString() }), this.queueCode(tx, released, code, e.at, actor)]);
        continue;
      }
      const risk = Object.assign({}, row.risk, { decision: 'deny' as const, reasons: [reason as string], rules, voiceContract });
      const denied = await this.verifications.deny(tx, row.id, risk, e.at);
      if (!denied) continue;
      this.audit.defer(tx, [event('verification.denied', { reasons: risk.reasons })]);
      await this.events.publish(tx, 'verification.denied', { verificationId: row.id, clientId: row.clientId, phoneE164: row.phoneE164, reasons: risk.reasons, at: e.at });
    }
  }

  /**
   * Queues the code message (counted as a send to the number) and returns its audit event. A test number's message
   * (`code` null: its fixed code is not put in it) carries its delivery script instead, counts as no send, and the
   * gateway plays it without calling a provider.
   */
  private queueCode(tx: Tx, row: Verification, code: string | null, now: Date, actor: AuditEventInput['actor']): AuditEventInput {
    const { body, segments } = this.composer.compose(row, code ?? '*'.repeat(row.codeLength));
    if (!row.test) this.risk.recordSend(tx, row.phoneE164, row.id, now);
    const message = this.outbox.queueMessage(tx, {
      channel: row.channel,
      verificationId: row.id,
      clientId: row.clientId,
      payload: { to: row.phoneE164, body, locale: row.locale, ...(row.test ? { test: { deliveryStatus: row.test.deliveryStatus } } : {}) },
      segments,
      now,
    });
    return {
      type: 'message.queued',
      actor,
      clientId: row.clientId,
      verificationId: row.id,
      phoneNumber: row.phoneE164,
      data: { outboxId: message.id, channel: row.channel, segments, send: row.sends, ...(row.test ? { test: true } : {}) },
    };
  }

  /** How long a verification waits in `screening`: until the person's call is due (inbound check), else the check window. */
  private screeningEnds(assessment: RiskAssessment, now: Date): Date {
    const callBy = assessment.voiceContract?.inboundCall?.callBy;
    return callBy ? new Date(callBy) : new Date(now.getTime() + this.config.risk.voiceCheck.windowMs);
  }

  /** Cooldown doubles with each send: 30 s after the first, 60 s after the second, 120 s… */
  private nextResendAt(now: Date, sends: number): Date {
    return new Date(now.getTime() + this.config.issuance.resendCooldownSeconds * 1000 * 2 ** (sends - 1));
  }
}

/** Refuses a resend of a verification that is not pending, has sent all its codes, or whose cooldown runs. */
function assertResendable(row: Verification, now: Date): void {
  const status = effectiveStatus(row, now);
  if (status !== 'pending') throw notPending(status);
  if (row.sends >= row.maxSends) {
    throw new ProblemException(429, 'max_sends_reached', `This verification has sent its ${row.maxSends} codes; start a new one.`);
  }
  if (now < row.resendAvailableAt) {
    const wait = Math.ceil((row.resendAvailableAt.getTime() - now.getTime()) / 1000);
    throw new ProblemException(429, 'resend_too_soon', `A new code can be sent at ${row.resendAvailableAt.toISOString()}.`, {
      resendAvailableAt: row.resendAvailableAt.toISOString(),
      headers: { 'Retry-After': String(wait) },
    });
  }
}
