import { Injectable, OnModuleInit } from '@nestjs/common';
import { EventBus } from '../common/events';
import type { Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { BlocklistService } from './blocklist.service';
import { numberTypeAllowed } from './phone-numbers';
import { PhoneVelocity } from './phone-velocity';
import { PhoneVelocityRepository } from './phone-velocity.repository';
import { RiskAssessment, RiskRuleHit, RiskScreener, ScreeningInput } from './risk.port';
import { VelocityScreening } from './velocity-screening';

/**
 * Screening of a start: the number policy (countries, number types per channel) and the blocklist (one
 * indexed lookup of the number and its prefixes), then the per-number velocity rules (429, thrown), then the
 * rules over counters per unit (VelocityScreening: pumping suspensions, start limits per end-user IP, device,
 * prefix and client, many accounts per number; one more read). A refusal is decision `deny` with every reason
 * of its stage and the rules that fired; a denied number costs no velocity lock. Counts wrong codes from
 * `verification.check_failed`, inside the checking transaction. (Voice-contract checks come next.)
 */
@Injectable()
export class RiskService implements RiskScreener, OnModuleInit {
  constructor(
    private readonly velocity: PhoneVelocity,
    private readonly repo: PhoneVelocityRepository,
    private readonly events: EventBus,
    private readonly config: AppConfig,
    private readonly blocklist: BlocklistService,
    private readonly units: VelocityScreening,
  ) {}

  onModuleInit(): void {
    this.events.subscribe('verification.check_failed', 'RiskService.countCheckFailure', (tx, e) => this.repo.recordCheckFailure(tx, e.phoneE164, e.verificationId, e.at));
  }

  async screen(tx: Tx, input: ScreeningInput): Promise<RiskAssessment> {
    const denials = [...this.policyDenials(input), ...(await this.blocklist.screen(tx, input.phone.e164, input.now))];
    if (denials.length) return { decision: 'deny', reasons: [...new Set(denials.map((r) => r.reason))], rules: denials };
    const plan = this.units.plan(input);
    await this.velocity.assertCanStart(tx, input.phone.e164, input.now, plan.lockKeys);
    return this.units.screen(tx, input, plan);
  }

  /**
   * The client's number policy (its own values, else the service's): the number's country, and its type for the
   * channel (Japanese numbers typed by prefix, jp-numbers.ts).
   */
  private policyDenials({ phone, channel, policy }: ScreeningInput): RiskRuleHit[] {
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
