import { Injectable, OnModuleInit } from '@nestjs/common';
import { effectiveVoiceContract } from '../common/auth';
import { ProblemException } from '../common/problem';
import { EventBus } from '../common/events';
import type { Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { blocklistRules, BlocklistService, prefixesOf } from './blocklist.service';
import { numberTypeAllowed } from './phone-numbers';
import { PhoneVelocity } from './phone-velocity';
import { PhoneVelocityRepository } from './phone-velocity.repository';
import type { ParsedPhone } from '../common/phone';
import { ClientNumberPolicy, RiskAssessment, RiskRuleHit, RiskScreener, ScreeningInput } from './risk.port';
import { RiskSignalsRepository, StartState } from './risk-signals.repository';
import { StartPlan, VelocityScreening } from './velocity-screening';
import { VoiceContractsService, VoiceContractSummary } from './voice-contracts.service';

/**
 * What a screening may do besides judging: start the voice-contract check the decision needs (a start does), or
 * start one whatever the policy says when the number has no fresh record (`POST /v1/risk/screenings` with
 * `startVoiceCheck`). A screening always reads the number's record; a start reads it only when its policy asks.
 */
export interface ScreeningOptions {
  startChecks: boolean;
  forceCheck?: boolean;
  alwaysRead?: boolean;
  /** Another rule asks for a confirmed voice contract whatever the client's mode (`many_accounts_per_number`). */
  require?: boolean;
}

/**
 * Screening of a start: the number policy (countries, number types per channel), then, after the number's lock
 * (and its velocity units', VelocityScreening.plan) in its own statement, one read of everything else
 * (RiskSignalsRepository.startState): the blocklist (one indexed lookup of the number and its prefixes), the
 * per-number velocity rules (429, thrown), then the rules over counters per unit (VelocityScreening: pumping
 * suspensions, start limits per end-user IP, device, prefix and client, many accounts per number). A refusal is
 * decision `deny` with every reason of its stage and the rules that fired; a number the policy refuses (or a
 * test number) has only the blocklist read, and takes no lock. Counts wrong codes from `verification.check_failed`,
 * inside the checking transaction. Last, the voice-contract rule (voiceContractStep), which a unit rule asking
 * for a check (many accounts per number) makes required.
 */
@Injectable()
export class RiskService implements RiskScreener, OnModuleInit {
  constructor(
    private readonly velocity: PhoneVelocity,
    private readonly repo: PhoneVelocityRepository,
    private readonly events: EventBus,
    private readonly config: AppConfig,
    private readonly blocklist: BlocklistService,
    private readonly voiceContracts: VoiceContractsService,
    private readonly units: VelocityScreening,
    private readonly signals: RiskSignalsRepository,
  ) {}

  onModuleInit(): void {
    this.events.subscribe('verification.check_failed', 'RiskService.countCheckFailure', (tx, e) => (e.test ? undefined : this.repo.recordCheckFailure(tx, e.phoneE164, e.verificationId, e.at)));
  }

  async screen(tx: Tx, input: ScreeningInput): Promise<RiskAssessment> {
    const policy = this.policyDenials(input);
    if (policy.length || input.test) {
      // Refused by the policy (with the blocklist's reasons too, all listed together), or a test number: the
      // blocklist alone is read, nothing is locked or counted.
      const denials = [...policy, ...(await this.blocklist.screen(tx, input.phone.e164, input.now))];
      if (denials.length) return deny(denials);
      // A test number: the client's policy and the blocklist judge it (above), its voice-contract rule runs with its script; nothing counts it.
      const voice = await this.voiceContractStep(tx, input, { startChecks: true });
      return Object.assign({}, voice, { rules: [...voice.rules, { rule: 'test_number', reason: 'test_number', ivrOutcome: input.test?.ivrOutcome }] });
    }
    const plan = this.units.plan(input);
    // The locks in their own statement, then everything the rules read in one more (startState): the blocklist
    // first, then the per-number limits (429), then the unit rules.
    await this.repo.lock(tx, input.phone.e164, plan.lockKeys, { genericPlans: true });
    const state = await this.startState(tx, input, plan);
    const blocked = blocklistRules(state.blocklist);
    if (blocked.length) return deny(blocked);
    this.velocity.assertStartFits(state.phone, input.now);
    const units = await this.units.screen(tx, input, plan, state);
    if (units.decision === 'deny') return units;
    // A unit rule that asks for a check (many accounts per number) makes the voice contract required for this start.
    const voice = await this.voiceContractStep(tx, input, { startChecks: true, require: units.decision === 'screen' });
    // When a unit rule asked for the check, its reason is the reason (not the contract the policy would not require).
    const reasons = units.decision === 'screen' ? units.reasons : voice.reasons;
    const rules = [...units.rules, ...voice.rules];
    return Object.assign({}, voice, voice.decision === 'allow' ? { rules } : { reasons, rules });
  }

  /**
   * POST /v1/risk/screenings: the same rules as a start, counting nothing: policy and blocklist, the per-number
   * velocity (a number at its limit is `velocity_exceeded`), then the unit rules (VelocityScreening.assess:
   * suspensions, start limits per end-user IP, device, prefix and client, many accounts per number), all on the
   * start's one read after the number's lock. Every rule that would refuse the start is reported together
   * (decision `deny`); many accounts with action `screen` makes the voice contract required, as at start. A check
   * is started only when asked (`startVoiceCheck`) and the number has no fresh record.
   */
  async assess(tx: Tx, input: ScreeningInput, opts: { startVoiceCheck: boolean }): Promise<RiskAssessment> {
    const plan = this.units.plan(input);
    await this.repo.lock(tx, input.phone.e164);
    const state = await this.startState(tx, input, plan);
    const denials = [...this.policyDenials(input), ...blocklistRules(state.blocklist)];
    try {
      this.velocity.assertStartFits(state.phone, input.now);
    } catch (err) {
      if (!(err instanceof ProblemException) || err.status !== 429) throw err;
      denials.push({ rule: 'velocity', reason: 'velocity_exceeded', limit: err.extra.limit, detail: err.detail });
    }
    const units = this.units.assess(input, plan, state);
    denials.push(...units.denials);
    if (denials.length) {
      const refused = deny(denials);
      return Object.assign({}, refused, { rules: [...refused.rules, ...units.recorded], voiceContract: await this.voiceContracts.summary(tx, input.phone.e164, input.now) });
    }
    const voice = await this.voiceContractStep(tx, input, { startChecks: opts.startVoiceCheck, forceCheck: opts.startVoiceCheck, alwaysRead: true, require: !!units.screen });
    // a start that goes through makes the suspensions its trips call for: reported, not made
    const rules = [...(units.screen ? [units.screen] : []), ...units.recorded, ...units.wouldTrip, ...voice.rules];
    return Object.assign({}, voice, units.screen && voice.decision === 'screen' ? { reasons: [units.screen.reason], rules } : { rules });
  }

  /** The start's one read after its locks: blocklist entries, per-number sends and wrong codes, units and accounts. */
  private startState(tx: Tx, input: ScreeningInput, plan: StartPlan): Promise<StartState> {
    const who = { phone: input.phone.e164, clientId: input.clientId, accountRefHash: plan.endUser?.accountRefHash ?? null };
    const query = { who, prefixes: prefixesOf(input.phone.e164), ...this.velocity.startReadLimits(), units: plan.units, accountsWindowMs: this.config.risk.manyAccounts.windowMs };
    return this.signals.startState(tx, query, input.now);
  }

  /**
   * The voice-contract rule (issue 10 item 7), by the client's mode for the start's purpose:
   * - `off`: nothing is read (no cost on the hot path);
   * - a fresh `absent` record is denied (`no_voice_contract`) under `require`, whatever the channel;
   * - `require` without a fresh `confirmed` record: decision `screen` (the code waits), joining the number's open
   *   check or starting one; a code sent by a call needs no check: approving it confirms the contract (`voice_otp`);
   * - `prefer`: the code goes at once; a check starts beside it when the number has no fresh record.
   */
  private async voiceContractStep(tx: Tx, input: ScreeningInput, opts: ScreeningOptions): Promise<RiskAssessment> {
    const policy = effectiveVoiceContract(input.policy.voiceContract, this.config.risk.policyDefaults.voiceContract);
    // an own entry only: a purpose named like an object built-in (`constructor`, `__proto__`) is no way around the default
    const mode = opts.require ? 'require' : Object.hasOwn(policy.byPurpose, input.purpose) ? policy.byPurpose[input.purpose] : policy.default;
    if (mode === 'off' && !opts.alwaysRead) return { decision: 'allow', reasons: [], rules: [] };
    const { phone, now } = input;
    // A test number's check always runs (with its script): a stored record would make the outcome depend on earlier runs.
    let record = input.test ? NO_RECORD : await this.voiceContracts.summary(tx, phone.e164, now);
    const rule = { rule: 'voice_contract', mode, status: record.status, checkedAt: record.checkedAt, checkId: record.checkId };
    if (record.status === 'absent' && mode === 'require') {
      return Object.assign(deny([Object.assign({}, rule, { reason: 'no_voice_contract' })]), { voiceContract: record });
    }
    const fresh = record.status === 'confirmed' || record.status === 'absent' || record.status === 'checking';
    // A check starts when the policy needs one (require; prefer beside the code) or the caller asked, and none is fresh.
    const needsCheck = opts.forceCheck || mode === 'prefer' || (mode === 'require' && input.channel === 'sms');
    if (!fresh && needsCheck && opts.startChecks) {
      record = this.voiceContracts.startCheck(tx, { e164: phone.e164, locale: input.locale, clientId: input.clientId, method: policy.method, now, testOutcome: input.test?.ivrOutcome });
    }
    const allow: RiskAssessment = { decision: 'allow', reasons: [], rules: [], voiceContract: record };
    if (mode !== 'require' || record.status === 'confirmed' || input.channel === 'voice') return allow;
    return { decision: 'screen', reasons: ['voice_contract_required'], rules: [Object.assign({}, rule, { reason: 'voice_contract_required' })], voiceContract: Object.assign({}, record, { onUnknown: policy.onUnknown }) };
  }

  /**
   * The client's number policy (its own values, else the service's): the number's country, and its type for the
   * channel (Japanese numbers typed by prefix, jp-numbers.ts).
   */
  channelDenials(phone: ParsedPhone, channel: 'sms' | 'voice', policy: ClientNumberPolicy): RiskRuleHit[] {
    return this.policyDenials({ phone, channel, policy });
  }

  private policyDenials({ phone, channel, policy }: Pick<ScreeningInput, 'phone' | 'channel' | 'policy'>): RiskRuleHit[] {
    const hits: RiskRuleHit[] = [];
    const defaults = this.config.risk.policyDefaults;
    const countries = policy.countries ?? defaults.countries;
    if (!phone.country || !countries.includes(phone.country)) {
      hits.push({ rule: 'country', reason: 'country_not_allowed', country: phone.country ?? null, allowed: countries });
    }
    const allowedTypes = policy.numberTypes?.[channel] ?? defaults.numberTypes[channel];
    if (!numberTypeAllowed(phone.numberType, allowedTypes, channel)) {
      hits.push({ rule: 'number_type', reason: 'number_type_not_allowed', numberType: phone.numberType, channel, allowed: allowedTypes });
    }
    return hits;
  }

  lockNumber(tx: Tx, phoneE164: string): Promise<void> {
    return this.repo.lock(tx, phoneE164);
  }

  screenResend(tx: Tx, phoneE164: string, now: Date): Promise<void> {
    return this.velocity.assertCanSend(tx, phoneE164, now);
  }

  screenCheck(tx: Tx, phoneE164: string, now: Date): Promise<void> {
    return this.velocity.assertCanCheck(tx, phoneE164, now);
  }

  recordSend(tx: Tx, phoneE164: string, verificationId: string, now: Date): void {
    this.repo.recordSend(tx, phoneE164, verificationId, now);
  }
}

const NO_RECORD: VoiceContractSummary = { status: 'none', method: null, checkedAt: null, expiresAt: null, checkId: null };

function deny(hits: RiskRuleHit[]): RiskAssessment {
  return { decision: 'deny', reasons: [...new Set(hits.map((r) => r.reason))], rules: hits };
}
