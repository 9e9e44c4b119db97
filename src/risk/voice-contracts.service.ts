import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { CallOutcome, DomainEvents, EventBus, VoiceCheckMethod } from '../common/events';
import type { ScriptedIvrOutcome } from '../common/test-numbers';
import { newId } from '../common/ids';
import { maskPhone } from '../common/phone';
import { SerialRuns } from '../common/serial-runs';
import type { Queryable, Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { Transactions } from '../database/transactions';
import { OutboxService } from '../gateway/outbox.service';
import { OutboxBox } from '../gateway/outbox.types';
import { PhoneVelocityRepository } from './phone-velocity.repository';
import { judgeCall } from './voice-check-outcomes';
import { CheckCallRecord, VoiceCheck, VoiceCheckStatus, VoiceContractsRepository } from './voice-contracts.repository';

/** A number's voice contract as screening and its answers show it (API.md, Risk screening: `voiceContract`). */
export interface VoiceContractSummary {
  status: VoiceCheckStatus | 'none';
  method: VoiceCheckMethod | null;
  checkedAt: string | null;
  expiresAt: string | null;
  /** The check that made (or is making) this record. */
  checkId: string | null;
  /** Set when this screening started the check. */
  startedNow?: boolean;
  /** An inbound check waiting for the person's call: the number to call, and until when. */
  inboundCall?: { callTo: string; callBy: string };
}

const NONE: VoiceContractSummary = { status: 'none', method: null, checkedAt: null, expiresAt: null, checkId: null };

/** Stale checks one sweep decides at most (one transaction). */
const STALE_BATCH = 100;

/** What the check call says, with the key it asks for. */
function prompt(locale: 'ja' | 'en', key: string): string {
  return locale === 'ja'
    ? `こちらは電話番号の確認のお電話です。ご本人様の確認のため、${key}を押してください。`
    : `This is a call to check your phone number. To confirm this number is yours, press ${key}.`;
}

/**
 * Voice-contract checks (issue 10 item 7): whether a number can take a voice call and its holder presses a key.
 * Each check is a row of `voice_contract_checks` (the number only as a keyed hash, and sealed while calls may still
 * be placed); a number's newest check is its record. Outbound checks call the number through the outbox (kind
 * `check_call`) and follow the call's `call.completed` events: the expected key confirms; a number the network says
 * does not exist is `absent` after one confirming call; anything else is retried, then `unknown`. Inbound checks wait
 * for the person's call to the service's number. A code read by a call and approved records `confirmed` (`voice_otp`).
 * Each decision is audited and published as `voice_contract.decided` in the transaction that records it.
 */
@Injectable()
export class VoiceContractsService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(VoiceContractsService.name);
  private timer?: NodeJS.Timeout;
  private readonly staleRuns = new SerialRuns<number>();

  constructor(
    private readonly repo: VoiceContractsRepository,
    private readonly velocity: PhoneVelocityRepository,
    private readonly outbox: OutboxService,
    private readonly box: OutboxBox,
    private readonly audit: AuditService,
    private readonly events: EventBus,
    private readonly config: AppConfig,
    private readonly transactions: Transactions,
    private readonly clock: Clock,
  ) {}

  /** Sweeps stale checks every EXPIRY_SWEEP_INTERVAL_MS, beside the expiry sweeper (any number of instances: SKIP LOCKED). */
  onApplicationBootstrap(): void {
    const tick = () => this.staleRuns.tick(() => this.decideStale());
    this.timer = setInterval(() => void tick().catch((err) => this.logger.error({ err }, 'stale voice-check sweep failed')), this.config.verification.sweepIntervalMs);
    this.timer.unref();
  }

  /** Stops the sweep and waits for one under way, before the connection pool closes. */
  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.staleRuns.idle();
  }

  /**
   * Decides `unknown` the outbound checks still open past RISK_VOICE_CHECK_WINDOW_SECONDS: their calls' results never
   * came (the provider sent no final callback, or our answer to it failed and it did not send it again). Their
   * verifications in `screening` then follow their policy's onUnknown instead of waiting until they expire, the record
   * says `unknown` instead of staying open, and the sealed number is wiped. Returns how many; tests call it directly.
   */
  sweepStale(): Promise<number> {
    return this.staleRuns.now(() => this.decideStale());
  }

  /** The check's sealed number, or null when it cannot be opened (no sealed number, or a key no longer configured). */
  private unseal(check: VoiceCheck): string | null {
    if (!check.phoneSealed) return null;
    try {
      return this.box.open<string>(check.phoneSealed);
    } catch (err) {
      this.logger.warn({ checkId: check.id, err }, 'the number of a voice-contract check could not be unsealed');
      return null;
    }
  }

  private async decideStale(): Promise<number> {
    const now = this.clock.now();
    return this.transactions.run(async (tx) => {
      const stale = await this.repo.lockStale(tx, new Date(now.getTime() - this.cfg.windowMs), STALE_BATCH);
      // Each decision takes its number's lock (issuance's, for the verifications waiting on it): in one order across
      // instances, by number, so that two sweeps never wait on each other.
      stale.sort((a, b) => Buffer.compare(a.phoneHash, b.phoneHash));
      for (const check of stale) {
        this.logger.warn({ checkId: check.id, calls: check.calls.length, callsPlaced: check.callsPlaced }, 'voice-contract check had no result within its window: decided unknown');
        const e164 = this.unseal(check);
        if (e164 !== null) {
          await this.decide(tx, check, e164, 'unknown', null, now);
          continue;
        }
        // Its number cannot be read (sealed under a key no longer in OTP_HMAC_KEYS): no verification can be found for
        // it either (theirs expire on their own). It is still closed, so that it does not hold back every sweep after it.
        if (await this.repo.decide(tx, check.id, { status: 'unknown', call: null, provider: null, callId: null, outcome: null, expiresAt: null }, now)) {
          await this.audit.record(tx, {
            type: 'voice_contract.decided',
            actor: { type: 'system', id: 'risk' },
            clientId: check.clientId,
            data: { checkId: check.id, status: 'unknown', method: check.method, expiresAt: null, calls: check.calls.length, numberUnreadable: true },
          });
        }
      }
      return stale.length;
    });
  }

  onModuleInit(): void {
    this.events.subscribe('call.completed', 'VoiceContractsService.onCallCompleted', (tx, e) => this.onCallCompleted(tx, e));
    this.events.subscribe('call.inbound', 'VoiceContractsService.onInboundCall', (tx, e) => this.onInboundCall(tx, e));
    // A test number's approved voice code reached nobody: it says nothing about the number's contract.
    this.events.subscribe('verification.approved', 'VoiceContractsService.onApproved', (tx, e) => (e.channel === 'voice' && !e.test ? this.recordVoiceOtp(tx, e) : undefined));
  }

  private get cfg() {
    return this.config.risk.voiceCheck;
  }

  /**
   * The number's record as screening judges it: a confirmed or absent record until it expires, an open check within
   * its window (`checking`), the last check's `unknown`; `none` when there is nothing or it has run out.
   */
  async summary(q: Queryable, e164: string, now: Date): Promise<VoiceContractSummary> {
    return this.recordOf(await this.repo.latest(q, this.audit.phoneHash(e164)), now);
  }

  /** The record a number's newest check makes (an open check only within its window; inbound ones as long as the person has to call). */
  private recordOf(latest: VoiceCheck | null, now: Date): VoiceContractSummary {
    if (!latest) return NONE;
    const t = now.getTime();
    if (latest.status === 'checking') {
      const window = latest.method === 'ivr_inbound' ? this.cfg.inboundWindowMs : this.cfg.windowMs;
      if (latest.createdAt.getTime() + window <= t) return NONE;
    } else if (latest.expiresAt && latest.expiresAt.getTime() <= t) {
      return NONE;
    }
    return this.withInbound(toSummary(latest), latest);
  }

  /**
   * Starts a check of the number in the caller's transaction: an outbound one queues its first call (counted as a
   * send to the number, so the per-number send limits bound calls too); an inbound one waits for the person's call.
   */
  startCheck(
    tx: Tx,
    args: { e164: string; locale: 'ja' | 'en'; clientId: string | null; method: 'ivr_outbound' | 'ivr_inbound'; now: Date; testOutcome?: ScriptedIvrOutcome },
  ): VoiceContractSummary {
    const { e164, locale, clientId, method, now } = args;
    const outbound = method === 'ivr_outbound';
    const check: VoiceCheck = Object.assign(this.newCheck(e164, clientId, method, now), {
      phoneSealed: outbound ? this.box.seal(e164) : null,
      status: 'checking' as const,
      locale,
      callsPlaced: outbound ? 1 : 0,
      testOutcome: args.testOutcome ?? null,
    });
    this.repo.insert(tx, check);
    if (outbound) this.queueCall(tx, check, e164, now);
    const summary = Object.assign(this.withInbound(toSummary(check), check), { startedNow: true });
    this.audit.defer(tx, [
      { type: 'voice_check.started', actor: { type: 'system', id: 'risk' }, clientId, phoneNumber: e164, data: { checkId: check.id, method, ...(check.testOutcome ? { test: true, testOutcome: check.testOutcome } : {}) } },
    ]);
    return summary;
  }

  private withInbound(summary: VoiceContractSummary, check: VoiceCheck): VoiceContractSummary {
    if (check.method !== 'ivr_inbound' || check.status !== 'checking' || !this.cfg.inboundNumber) return summary;
    return Object.assign({}, summary, { inboundCall: { callTo: this.cfg.inboundNumber, callBy: new Date(check.createdAt.getTime() + this.cfg.inboundWindowMs).toISOString() } });
  }

  /** A check call ended (or could not be placed): decide the check, or call again after the retry delay. */
  private async onCallCompleted(tx: Tx, e: DomainEvents['call.completed']): Promise<void> {
    if (!e.reference?.startsWith('vck_')) return;
    const check = await this.repo.lock(tx, e.reference);
    if (!check || check.status !== 'checking' || check.method !== 'ivr_outbound' || !check.phoneSealed) return;
    const call: CheckCallRecord = { provider: e.provider, callId: e.callId, outcome: e.outcome.kind, sipResponseCode: e.sipResponseCode, endedAt: e.at.toISOString() };
    const e164 = this.box.open<string>(check.phoneSealed);
    const step = judgeCall(
      check.calls.map((c) => c.outcome),
      e.outcome,
      this.cfg.key,
      this.cfg.retries,
    );
    if (step.kind === 'retry') {
      const notBefore = new Date(e.at.getTime() + this.cfg.retryDelayMs);
      this.queueCall(tx, check, e164, e.at, notBefore);
      await this.repo.addCall(tx, check.id, call, check.callsPlaced + 1, e.at);
      this.audit.defer(tx, [
        { type: 'voice_check.retry_queued', actor: { type: 'system', id: 'risk' }, clientId: check.clientId, phoneNumber: e164, data: { checkId: check.id, outcome: e.outcome.kind, callAt: notBefore.toISOString(), call: check.callsPlaced + 1 } },
      ]);
      return;
    }
    await this.decide(tx, check, e164, step.status, call, e.at);
  }

  /**
   * Queues a call of the check (now, or a retry from `notBefore` on), counted as a send to the number. A test number's
   * call carries how it ends (the expected key, for `key_pressed`) and counts as no send: the gateway places no real call.
   */
  private queueCall(tx: Tx, check: VoiceCheck, e164: string, now: Date, notBefore?: Date): void {
    const test = check.testOutcome ? { test: scriptedCall(check.testOutcome, this.cfg.key) } : {};
    const payload = { to: e164, locale: check.locale, prompt: prompt(check.locale, this.cfg.key), reference: check.id, ...test };
    this.outbox.queueCheckCall(tx, { clientId: check.clientId, payload, now, notBefore });
    if (!check.testOutcome) this.velocity.recordSend(tx, e164, check.id, now);
  }

  /** A check of the number by `method`, started `now`, before its status and calls. */
  private newCheck(e164: string, clientId: string | null, method: VoiceCheckMethod, now: Date): Omit<VoiceCheck, 'phoneSealed' | 'status' | 'locale' | 'callsPlaced'> {
    return {
      id: newId('vck', now.getTime()),
      phoneHash: this.audit.phoneHash(e164),
      phoneMasked: maskPhone(e164),
      clientId,
      method,
      calls: [],
      provider: null,
      callId: null,
      outcome: null,
      createdAt: now,
      checkedAt: null,
      expiresAt: null,
      updatedAt: now,
      testOutcome: null,
    };
  }

  /**
   * Someone called the service's number (an inbound check): confirms the open inbound check of the caller's number
   * started within RISK_INBOUND_CHECK_WINDOW_SECONDS. A withheld or anonymous caller, a call to another number, or a
   * caller with no open check confirms nothing. Caller ids can be spoofed, which is why policy picks this method
   * explicitly.
   */
  private async onInboundCall(tx: Tx, e: DomainEvents['call.inbound']): Promise<void> {
    if (!e.from || e.to !== this.cfg.inboundNumber) return;
    const check = await this.repo.lockOpenInbound(tx, this.audit.phoneHash(e.from), new Date(e.at.getTime() - this.cfg.inboundWindowMs));
    if (!check) return;
    e.matched.value = true;
    const call: CheckCallRecord = { provider: e.provider, callId: e.callId, outcome: 'caller_id_matched', sipResponseCode: null, endedAt: e.at.toISOString() };
    await this.decide(tx, check, e.from, 'confirmed', call, e.at);
  }

  /** A code read out by a call was approved: the number took a voice call and its holder heard the code. */
  private async recordVoiceOtp(tx: Tx, e: DomainEvents['verification.approved']): Promise<void> {
    const check: VoiceCheck = Object.assign(this.newCheck(e.phoneE164, e.clientId, 'voice_otp', e.at), {
      phoneSealed: null,
      status: 'confirmed' as const,
      locale: 'ja' as const,
      callsPlaced: 0,
      checkedAt: e.at,
      expiresAt: new Date(e.at.getTime() + this.cfg.confirmedMs),
    });
    this.repo.insert(tx, check);
    await this.recordDecision(tx, check, e.phoneE164, 'confirmed', check.expiresAt, { verificationId: e.verificationId }, e.at);
  }

  private async decide(tx: Tx, check: VoiceCheck, e164: string, status: 'confirmed' | 'absent' | 'unknown', call: CheckCallRecord | null, now: Date): Promise<void> {
    const ttl = status === 'confirmed' ? this.cfg.confirmedMs : status === 'absent' ? this.cfg.absentMs : null;
    const expiresAt = ttl === null ? null : new Date(now.getTime() + ttl);
    const decided = await this.repo.decide(tx, check.id, { status, call, provider: call?.provider ?? null, callId: call?.callId ?? null, outcome: call?.outcome ?? null, expiresAt }, now);
    if (!decided) return;
    const calls = check.calls.length + (call ? 1 : 0);
    this.logger.log({ checkId: check.id, status, method: check.method, calls }, 'voice-contract check decided');
    await this.recordDecision(tx, check, e164, status, expiresAt, { calls, outcome: call?.outcome ?? null, provider: call?.provider ?? null, callId: call?.callId ?? null }, now);
  }

  private async recordDecision(
    tx: Tx,
    check: VoiceCheck,
    e164: string,
    status: 'confirmed' | 'absent' | 'unknown',
    expiresAt: Date | null,
    data: Record<string, unknown>,
    now: Date,
  ): Promise<void> {
    await this.audit.record(tx, {
      type: 'voice_contract.decided',
      actor: { type: 'system', id: 'risk' },
      clientId: check.clientId,
      phoneNumber: e164,
      data: { checkId: check.id, status, method: check.method, expiresAt, ...data, ...(check.testOutcome ? { test: true } : {}) },
    });
    const test = check.testOutcome ? { test: true } : {};
    await this.events.publish(tx, 'voice_contract.decided', { checkId: check.id, phoneE164: e164, status, method: check.method, expiresAt, at: now, ...test });
  }

  /** The admins' view of a number's record: the newest check as the record, and the checks before it. */
  async adminRecord(q: Queryable, e164: string, now: Date): Promise<{ current: VoiceContractSummary; history: VoiceCheck[] }> {
    // The newest check is the record: one read for both.
    const history = await this.repo.history(q, this.audit.phoneHash(e164), 50);
    return { current: this.recordOf(history.find((c) => !c.testOutcome) ?? null, now), history };
  }
}

/** How a test number's check call ends, as a provider-neutral outcome (the expected key for `key_pressed`). */
function scriptedCall(outcome: ScriptedIvrOutcome, key: string): CallOutcome {
  return outcome === 'key_pressed' ? { kind: 'key_pressed', digits: key } : { kind: outcome };
}

function toSummary(c: VoiceCheck): VoiceContractSummary {
  return {
    status: c.status,
    method: c.method,
    checkedAt: c.checkedAt ? c.checkedAt.toISOString() : null,
    expiresAt: c.expiresAt ? c.expiresAt.toISOString() : null,
    checkId: c.id,
  };
}
