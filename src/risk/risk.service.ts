import { Injectable, OnModuleInit } from '@nestjs/common';
import { EventBus } from '../common/events';
import type { Tx } from '../common/tx';
import { PhoneVelocity } from './phone-velocity';
import { PhoneVelocityRepository } from './phone-velocity.repository';
import { RiskAssessment, RiskScreener, ScreeningInput } from './risk.port';

/**
 * Today's screening: every valid number is allowed by policy (the number policy, blocklist, pumping rules
 * and voice-contract checks come with the risk issue), after the per-number velocity rules. Counts wrong
 * codes from `verification.check_failed`, inside the checking transaction.
 */
@Injectable()
export class RiskService implements RiskScreener, OnModuleInit {
  constructor(
    private readonly velocity: PhoneVelocity,
    private readonly repo: PhoneVelocityRepository,
    private readonly events: EventBus,
  ) {}

  onModuleInit(): void {
    this.events.subscribe('verification.check_failed', 'RiskService.countCheckFailure', (tx, e) => this.repo.recordCheckFailure(tx, e.phoneE164, e.verificationId, e.at));
  }

  async screen(tx: Tx, input: ScreeningInput): Promise<RiskAssessment> {
    await this.velocity.assertCanStart(tx, input.phone.e164, input.now);
    return { decision: 'allow', reasons: [] };
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
