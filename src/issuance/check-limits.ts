import { Inject, Injectable } from '@nestjs/common';
import type { Tx } from '../common/tx';
import { RISK_SCREENER, RiskScreener } from '../risk/risk.port';
import type { Verification } from './verification';

/**
 * What must hold before a code of `v` is checked, as a transition guard of issuance: the per-number cap on
 * wrong codes across all of the number's verifications (risk's velocity rule). Checking reaches risk
 * through here, as ARCHITECTURE.md lets verification import issuance but not risk.
 */
@Injectable()
export class CheckLimits {
  constructor(@Inject(RISK_SCREENER) private readonly risk: RiskScreener) {}

  /**
   * 429 `rate_limited` once the number's cap is reached; serializes checks on the number until the transaction ends.
   * A test number's fixed code is no secret to guess: its wrong codes count on its verification only.
   */
  async assertCanCheck(tx: Tx, v: Verification, now: Date): Promise<void> {
    if (v.test) return;
    return this.risk.screenCheck(tx, v.phoneE164, now);
  }
}
