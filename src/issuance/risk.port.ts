import type { ParsedPhone } from '../common/phone';

export type RiskDecision = 'allow' | 'screen' | 'deny';

export interface RiskAssessment {
  decision: RiskDecision;
  reasons: string[];
}

/** Phone-number screening as issuance needs it. The risk module (its own issue) provides the real one. */
export interface RiskScreener {
  screen(input: { phone: ParsedPhone; clientId: string; channel: 'sms' | 'voice' }): Promise<RiskAssessment>;
}

export const RISK_SCREENER = Symbol('RISK_SCREENER');

/** Until the risk module lands: every valid number is allowed. */
export class AllowAllScreener implements RiskScreener {
  async screen(): Promise<RiskAssessment> {
    return { decision: 'allow', reasons: [] };
  }
}
