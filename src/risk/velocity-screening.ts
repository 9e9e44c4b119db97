import { Injectable, OnModuleInit } from '@nestjs/common';
import { EventBus } from '../common/events';
import { ipUnit } from '../common/ip-unit';
import type { Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { EndUserHasher } from './end-user';
import { tooMany } from './phone-velocity';
import { EndUserRecord, RiskSignalsRepository, ScreeningState, UnitState } from './risk-signals.repository';
import type { RiskAssessment, RiskRuleHit, ScreeningInput } from './risk.port';
import { SuspensionMode } from './suspensions.repository';
import { suspendedReason, SuspensionsService } from './suspensions.service';
import { hourlyLimitExceeded, manyAccounts, numberPrefix, PUMPING_KINDS, pumpingTrip, PumpingUnitKind, Unit, UnitKind } from './velocity-rules';

/** The velocity units with an hourly start limit, in the order their 429s are checked, and how a 429 names them. */
const VELOCITY: Array<{ kind: UnitKind; limit: string; what: string }> = [
  { kind: 'ip', limit: 'ip_starts_1h', what: "from this end user's IP" },
  { kind: 'device', limit: 'device_starts_1h', what: "from this end user's device" },
  { kind: 'prefix', limit: 'prefix_starts_1h', what: 'to numbers under this prefix' },
  { kind: 'client', limit: 'client_starts_1h', what: 'by this client' },
];

/** A start's units and hashed signals, worked out before its locks are taken. */
export interface StartPlan {
  /** Every unit the start is judged by and counted for. */
  units: Unit[];
  /** The advisory locks of its units that have a start limit (taken with the number's, PhoneVelocity). */
  lockKeys: string[];
  endUser: EndUserRecord | null;
}

/**
 * The rules over counters per unit (risk_unit_counts and friends, kept by this class from the start and approval
 * of each verification), checked in the start's transaction after the number's own velocity rules:
 * - SMS pumping (prefix, foreign country, end-user IP): a unit with too many unverified codes for its own
 *   verified volume is suspended (SuspensionsService); starts to a suspended unit are denied with
 *   `prefix_suspended`, `country_suspended` or `ip_suspended`. The home country is only ever reported. A client
 *   whose pumping policy is `record_only` is never denied: its trips and hits are recorded only.
 * - velocity: starts per end-user IP, device, number prefix and client per hour (429 `rate_limited` naming
 *   the limit, with Retry-After). Exact across instances: each limited unit is locked with the number.
 * - many accounts per number: a number verified for more than N accounts or clients in the window is
 *   `many_accounts_per_number`, decision `screen` (a voice-contract check) or `deny` (RISK_MANY_ACCOUNTS_ACTION).
 * All of it is read in the start's one statement after its locks (RiskSignalsRepository.startState, with the
 * number's blocklist entries and per-number counts); counting joins the transaction's combined statement.
 */
@Injectable()
export class VelocityScreening implements OnModuleInit {
  /** What a start's `verification.started` must count, by its transaction (set by screen(), taken by the handler). */
  private readonly pending = new WeakMap<Tx, StartPlan>();

  constructor(
    private readonly repo: RiskSignalsRepository,
    private readonly suspensions: SuspensionsService,
    private readonly hasher: EndUserHasher,
    private readonly events: EventBus,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.events.subscribe('verification.started', 'VelocityScreening.countStart', (tx, e) => {
      const plan = this.pending.get(tx);
      if (!plan) return;
      this.pending.delete(tx);
      this.repo.countStart(tx, plan.units, e.at);
      if (plan.endUser) this.repo.recordEndUser(tx, e.verificationId, plan.endUser, e.at);
    });
    this.events.subscribe('verification.approved', 'VelocityScreening.countApproval', (tx, e) => {
      if (e.test) return; // a test number's approval is no verified volume of its prefix or country
      this.repo.countApproval(tx, e.verificationId, e.phoneE164, e.clientId, { prefix: numberPrefix(e.phoneE164, this.config.risk.prefixLength), country: e.country }, e.at);
    });
  }

  plan(input: ScreeningInput): StartPlan {
    const { prefixLength, startsPerHour } = this.config.risk;
    const { ip, deviceId, accountRef } = input.endUser ?? {};
    const units: Unit[] = [{ kind: 'prefix', value: numberPrefix(input.phone.e164, prefixLength) }];
    if (input.phone.country) units.push({ kind: 'country', value: input.phone.country });
    if (ip) units.push({ kind: 'ip', value: ipUnit(ip) });
    const deviceHash = deviceId ? this.hasher.device(input.clientId, deviceId) : null;
    if (deviceHash) units.push({ kind: 'device', value: deviceHash });
    // a client's own counter only when it has a limit: it is one row that all its starts would update
    if (startsPerHour.client > 0) units.push({ kind: 'client', value: input.clientId });
    const lockKeys = units.filter((u) => VELOCITY.some((v) => v.kind === u.kind) && startsPerHour[u.kind as keyof typeof startsPerHour] > 0).map((u) => `velocity:${u.kind}:${u.value}`);
    const endUser: EndUserRecord | null =
      ip || deviceHash || accountRef
        ? { ip: ip ? ipUnit(ip) : null, deviceHash, accountRefHash: accountRef ? this.hasher.accountRef(input.clientId, accountRef) : null }
        : null;
    return { units, lockKeys, endUser };
  }

  /**
   * Judges the start on `state`, read after its units were locked (see plan(); RiskService reads it with the
   * number's other state in one statement, RiskSignalsRepository.startState). Answers the decision: `deny` for a suspended unit (or many
   * accounts with RISK_MANY_ACCOUNTS_ACTION=deny), `screen` for many accounts, else `allow` with the rules that
   * fired without deciding (a trip, a record_only hit). Throws 429 for a start limit. Counts the start (with
   * `verification.started`) and makes the suspensions its trips call for.
   */
  async screen(tx: Tx, input: ScreeningInput, plan: StartPlan, state: ScreeningState): Promise<RiskAssessment> {
    const j = this.judge(input, plan, state);
    if (j.denials.length) return { decision: 'deny', reasons: [...new Set(j.denials.map((d) => d.reason))], rules: [...j.denials, ...j.recorded] };
    const [over] = j.overLimits;
    if (over) throw tooMany(`Too many verifications started ${over.what}: at most ${over.max} per hour.`, over.limit, over.retryAfterMs);

    // The start that crosses a threshold goes through; its unit is suspended from the next one on.
    const recorded = [...j.recorded];
    for (const t of j.trips) {
      const made = await this.suspensions.trip(tx, { kind: t.unit.kind as PumpingUnitKind, unit: t.unit.unit, mode: t.mode, figures: t.figures, clientId: input.clientId }, input.now);
      if (made) recorded.push({ rule: 'pumping', reason: made.reason, kind: made.kind, unit: made.unit, suspensionId: made.id, mode: made.mode, tripped: true, ...t.figures });
    }
    this.pending.set(tx, plan);
    if (j.many) return { decision: 'screen', reasons: [j.many.reason], rules: [j.many, ...recorded] };
    return { decision: 'allow', reasons: [], rules: recorded };
  }

  /**
   * POST /v1/risk/screenings: the same read (`state`, of plan()'s units) and rules as screen(), counting nothing,
   * locking no unit and suspending nothing. Every rule that would fire for a start is reported: suspensions and many accounts
   * (deny), each start limit the start would exceed (`velocity_exceeded` with its limit, count and Retry-After),
   * many accounts asking for a check (`screen`), and the trips a start that is not refused would make (`wouldTrip`).
   */
  assess(input: ScreeningInput, plan: StartPlan, state: ScreeningState): { denials: RiskRuleHit[]; screen?: RiskRuleHit; recorded: RiskRuleHit[]; wouldTrip: RiskRuleHit[] } {
    const j = this.judge(input, plan, state);
    const velocity: RiskRuleHit[] = j.overLimits.map((o) => ({
      rule: 'velocity',
      reason: 'velocity_exceeded',
      limit: o.limit,
      count: o.count,
      max: o.max,
      retryAfterSeconds: Math.max(1, Math.ceil(o.retryAfterMs / 1000)),
    }));
    const wouldTrip: RiskRuleHit[] = j.trips.map((t) => ({ rule: 'pumping', reason: suspendedReason(t.unit.kind as PumpingUnitKind), kind: t.unit.kind, unit: t.unit.unit, mode: t.mode, wouldTrip: true, ...t.figures }));
    return { denials: [...j.denials, ...velocity], screen: j.many, recorded: j.recorded, wouldTrip };
  }

  /** What the rules make of the one read of a start's units and number (`state`). */
  private judge(input: ScreeningInput, plan: StartPlan, state: ScreeningState): Judgement {
    const { risk } = this.config;
    const now = input.now;
    const accountRefHash = plan.endUser?.accountRefHash ?? null;
    const mode = input.policy.pumping ?? risk.policyDefaults.pumping;

    const denials: RiskRuleHit[] = [];
    const recorded: RiskRuleHit[] = [];
    const trips: Judgement['trips'] = [];
    for (const unit of state.units.filter((u) => PUMPING_KINDS.includes(u.kind))) {
      const kind = unit.kind as PumpingUnitKind;
      const hit = (s: { id: string; mode: SuspensionMode }) => ({ rule: 'pumping', reason: suspendedReason(kind), kind, unit: unit.unit, suspensionId: s.id, mode: s.mode });
      const home = kind === 'country' && unit.unit === risk.homeCountry;
      const enforced = unit.active.find((s) => s.mode === 'enforce');
      if (enforced && !home) {
        if (mode === 'enforce') denials.push(hit(enforced));
        else recorded.push(Object.assign(hit(enforced), { enforced: false }));
        continue;
      }
      const tripMode: SuspensionMode = home ? 'report' : mode;
      const covering = unit.active.find((s) => s.mode === tripMode);
      if (covering) {
        if (tripMode === 'record_only') recorded.push(Object.assign(hit(covering), { enforced: false }));
        continue;
      }
      const trip = pumpingTrip(unit, risk.pumping);
      if (trip) trips.push({ unit, mode: tripMode, figures: Object.assign({}, trip, figuresOf(unit)) });
    }

    const many = manyAccounts(state.accounts, !!accountRefHash, risk.manyAccounts.max);
    const manyHit: RiskRuleHit | undefined = many && { rule: 'many_accounts', reason: 'many_accounts_per_number', ...many, windowDays: Math.round(risk.manyAccounts.windowMs / 86_400_000), action: risk.manyAccounts.action };
    if (manyHit && risk.manyAccounts.action === 'deny') denials.push(manyHit);
    return { denials, recorded, trips, many: manyHit && risk.manyAccounts.action !== 'deny' ? manyHit : undefined, overLimits: this.overLimits(state.units, now) };
  }

  /** The start limits per hour (0: none) of the start's units that one more start would exceed, in the order their 429s are checked. */
  private overLimits(units: UnitState[], now: Date): Judgement['overLimits'] {
    const limits = this.config.risk.startsPerHour;
    const over: Judgement['overLimits'] = [];
    for (const v of VELOCITY) {
      const max = limits[v.kind as keyof typeof limits];
      const unit = units.find((u) => u.kind === v.kind);
      if (!unit || max <= 0) continue;
      const hit = hourlyLimitExceeded(unit.hour, max, now.getTime());
      if (hit) over.push({ limit: v.limit, what: v.what, max, count: hit.count, retryAfterMs: hit.retryAfterMs });
    }
    return over;
  }
}

/** What the unit rules make of one start's read (VelocityScreening.judge). */
interface Judgement {
  /** Rules that deny the start: an enforced suspension, many accounts with action `deny`. */
  denials: RiskRuleHit[];
  /** Rules that fired without deciding (a record_only suspension). */
  recorded: RiskRuleHit[];
  /** Pumping thresholds this start crosses (its unit is suspended from the next start on). */
  trips: Array<{ unit: UnitState; mode: SuspensionMode; figures: Record<string, unknown> }>;
  /** Many accounts per number with action `screen`: the start needs a voice-contract check. */
  many?: RiskRuleHit;
  /** Start limits one more start would exceed. */
  overLimits: Array<{ limit: string; what: string; max: number; count: number; retryAfterMs: number }>;
}

/** The figures a pumping trip is recorded with (beside its window, unverified count and threshold). */
function figuresOf(u: UnitState): Record<string, number> {
  return {
    started24h: u.started24h,
    verified24h: u.verified24h,
    started1h: u.started1h,
    verified1h: u.verified1h,
    verifiedLast24h: u.verifiedLast24h,
    verifiedLastHour: u.verifiedLastHour,
    maxDailyVerified14d: u.maxDailyVerified14d,
    maxHourlyVerified14d: u.maxHourlyVerified14d,
  };
}
