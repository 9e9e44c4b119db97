import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { maskPhone } from '../common/phone';
import { Problems } from '../common/problem';
import { OutboxService } from '../gateway/outbox.service';
import type { BoundTransaction } from './codes';
import { VerificationStatus, VerificationView } from './dto/verification.view';
import type { RiskAssessment } from './risk.port';

/** A verification row as stored (snake_case from SQL). Stays inside issuance and verification. */
export interface VerificationRow {
  id: string;
  client_id: string;
  phone_e164: string;
  country: string | null;
  channel: 'sms' | 'voice';
  purpose: string;
  locale: 'ja' | 'en';
  status: VerificationStatus;
  code_hmac: Buffer;
  code_key_id: string;
  code_length: number;
  ttl_seconds: number;
  attempts: number;
  max_attempts: number;
  sends: number;
  max_sends: number;
  expires_at: Date;
  resend_available_at: Date;
  transaction: BoundTransaction | null;
  reference: string | null;
  callback_url: string | null;
  risk: RiskAssessment;
  created_at: Date;
  updated_at: Date;
  approved_at: Date | null;
}

export const OPEN_STATUSES: VerificationStatus[] = ['screening', 'pending'];

/** The status a caller sees: an open verification past its expiry reads as expired. */
export function effectiveStatus(row: Pick<VerificationRow, 'status' | 'expires_at'>, now: Date): VerificationStatus {
  return OPEN_STATUSES.includes(row.status) && row.expires_at.getTime() <= now.getTime() ? 'expired' : row.status;
}

/** Reads and maps verification rows; shared by issuance and verification (which imports issuance). */
@Injectable()
export class VerificationStore {
  constructor(private readonly outbox: OutboxService) {}

  /** The caller's own verification, or 404 (another client's id answers exactly like a missing one). */
  async findOwn(m: EntityManager, id: string, clientId: string, forUpdate = false): Promise<VerificationRow> {
    const rows: VerificationRow[] = await m.query(`SELECT * FROM verifications WHERE id = $1 AND client_id = $2${forUpdate ? ' FOR UPDATE' : ''}`, [
      id,
      clientId,
    ]);
    if (!rows[0]) throw Problems.notFound(`No verification ${id}.`);
    return rows[0];
  }

  async toView(m: EntityManager, row: VerificationRow, now: Date): Promise<VerificationView> {
    const delivery = (await this.outbox.latestDeliveries(m, [row.id])).get(row.id) ?? null;
    return toVerificationView(row, now, delivery);
  }
}

export function toVerificationView(row: VerificationRow, now: Date, delivery: VerificationView['delivery']): VerificationView {
  const status = effectiveStatus(row, now);
  return {
    id: row.id,
    status,
    phoneNumber: maskPhone(row.phone_e164),
    channel: row.channel,
    purpose: row.purpose,
    locale: row.locale,
    expiresAt: row.expires_at.toISOString(),
    resendAvailableAt: row.resend_available_at.toISOString(),
    attemptsRemaining: Math.max(0, row.max_attempts - row.attempts),
    sendsRemaining: Math.max(0, row.max_sends - row.sends),
    risk: { decision: row.risk.decision, reasons: row.risk.reasons },
    delivery,
    transaction: row.transaction,
    reference: row.reference,
    createdAt: row.created_at.toISOString(),
    approvedAt: row.approved_at?.toISOString() ?? null,
  };
}
