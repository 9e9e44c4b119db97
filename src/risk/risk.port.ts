import type { NumberTypesPolicy, VoiceContractPolicy } from '../common/auth';
import type { ParsedPhone } from '../common/phone';
import type { Tx } from '../common/tx';
import type { VoiceContractSummary } from './voice-contracts.service';
import type { PumpingMode } from '../config/app-config';
import type { EndUserSignals } from './end-user';
import type { ScriptedIvrOutcome } from '../common/test-numbers';

export type RiskDecision = 'allow' | 'screen' | 'deny';

/** One rule that fired, with the figures it judged by, e.g. `{ rule: 'number_type', numberType: 'toll_free', channel: 'sms', allowed: ['mobile'] }`. */
export interface RiskRuleHit {
  rule: string;
  reason: string;
  [figure: string]: unknown;
}

/**
 * Screening's decision record: stored on the verification and in its audit events. `reasons` are API.md's
 * stable codes; `rules` the rules that fired with their figures.
 */
export interface RiskAssessment {
  decision: RiskDecision;
  reasons: string[];
  rules: RiskRuleHit[];
  /**
   * The number's voice contract as screening found it, when the policy asked (absent when it did not). With decision
   * `screen`, `onUnknown` says what a check that finds nothing means for this start (the client's policy at start).
   */
  voiceContract?: VoiceContractSummary & { onUnknown?: 'deny' | 'allow' };
}

/** The client's own number policy (from its Principal); null fields follow the service's configuration. */
export interface ClientNumberPolicy {
  countries: string[] | null;
  numberTypes: NumberTypesPolicy | null;
  voiceContract: VoiceContractPolicy | null;
  /** What a tripped pumping rule does for this client's starts (null or absent: RISK_PUMPING_MODE). */
  pumping?: PumpingMode | null;
}

export interface ScreeningInput {
  phone: ParsedPhone;
  clientId: string;
  channel: 'sms' | 'voice';
  purpose: string;
  locale: 'ja' | 'en';
  policy: ClientNumberPolicy;
  now: Date;
  /** The end user's IP, device id and account reference, when the caller sent them (velocity rules). */
  endUser?: EndUserSignals;
  /**
   * The number is one of the client's test numbers: it reaches no provider, so no velocity or pumping rule judges or
   * counts it, no stored voice-contract record is read, and a check it needs plays `ivrOutcome` (its result is no number's record).
   */
  test?: { ivrOutcome: ScriptedIvrOutcome };
}

/**
 * Phone-number screening as issuance needs it, run inside the start (or resend) transaction. Velocity
 * limits answer 429 `rate_limited` (thrown); a policy refusal is decision `deny` with reasons.
 */
export interface RiskScreener {
  /** A new verification for this number: velocity rules, then policy. Serializes work on the number until the transaction ends. */
  screen(tx: Tx, input: ScreeningInput): Promise<RiskAssessment>;
  /**
   * Takes the number's lock, held until the transaction ends: the one screen, screenResend and screenCheck take
   * first. A transaction that locks a verification row of the number and then screens takes it before the row, so
   * that everyone takes the two in one order (number, then row); the other way round it deadlocks with a check or a
   * start on the same number.
   */
  lockNumber(tx: Tx, phoneE164: string): Promise<void>;
  /** Another code to a number under verification (resend): the send limits. */
  screenResend(tx: Tx, phoneE164: string, now: Date): Promise<void>;
  /** A resend over another channel: the rules of the client's number policy for that channel that refuse the number (none: allowed). */
  channelDenials(phone: ParsedPhone, channel: 'sms' | 'voice', policy: ClientNumberPolicy): RiskRuleHit[];
  /**
   * A code is about to be checked for this number: the per-number cap on wrong codes across all its
   * verifications (429 once reached, counting nothing). Serializes checks on the number until the
   * transaction ends, so the cap is exact across instances.
   */
  screenCheck(tx: Tx, phoneE164: string, now: Date): Promise<void>;
  /** Counts one code sent to the number (joins the transaction's combined statement). */
  recordSend(tx: Tx, phoneE164: string, verificationId: string, now: Date): void;
}

export const RISK_SCREENER = Symbol('RISK_SCREENER');
