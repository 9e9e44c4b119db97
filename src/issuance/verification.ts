import type { TestScript } from '../common/test-numbers';
import type { RiskAssessment } from '../risk/risk.port';
import type { BoundTransaction } from './codes';
import type { VerificationStatus } from './dto/verification.view';

/**
 * A verification as issuance and its callers work with it (the repository maps rows to it; the table's
 * row shape stays inside VerificationsRepository). The code itself is never here: only its HMAC and key id.
 */
export interface Verification {
  id: string;
  clientId: string;
  phoneE164: string;
  country: string | null;
  channel: 'sms' | 'voice';
  purpose: string;
  locale: 'ja' | 'en';
  status: VerificationStatus;
  /** The code version: compared in constant time, and the guard of a check's UPDATE. */
  codeHmac: Buffer;
  codeKeyId: string;
  codeLength: number;
  ttlSeconds: number;
  attempts: number;
  maxAttempts: number;
  sends: number;
  maxSends: number;
  expiresAt: Date;
  resendAvailableAt: Date;
  transaction: BoundTransaction | null;
  reference: string | null;
  callbackUrl: string | null;
  risk: RiskAssessment;
  createdAt: Date;
  updatedAt: Date;
  approvedAt: Date | null;
  /** A verification of one of the client's test numbers: its script (it never reaches a provider). null for every real one. */
  test: TestScript | null;
}
