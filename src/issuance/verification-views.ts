import { Injectable } from '@nestjs/common';
import { maskPhone } from '../common/phone';
import type { Queryable } from '../common/tx';
import { OutboxService } from '../gateway/outbox.service';
import type { VerificationView } from './dto/verification.view';
import { effectiveStatus } from './verification-transitions';
import type { Verification } from './verification';

/** The verification object of API.md, with the delivery state of its latest message. */
@Injectable()
export class VerificationViews {
  constructor(private readonly outbox: OutboxService) {}

  async view(q: Queryable, row: Verification, now: Date): Promise<VerificationView> {
    const delivery = (await this.outbox.latestDeliveries(q, [row.id])).get(row.id) ?? null;
    return toVerificationView(row, now, delivery);
  }
}

export function toVerificationView(row: Verification, now: Date, delivery: VerificationView['delivery']): VerificationView {
  return {
    id: row.id,
    status: effectiveStatus(row, now),
    phoneNumber: maskPhone(row.phoneE164),
    channel: row.channel,
    purpose: row.purpose,
    locale: row.locale,
    expiresAt: row.expiresAt.toISOString(),
    resendAvailableAt: row.resendAvailableAt.toISOString(),
    attemptsRemaining: Math.max(0, row.maxAttempts - row.attempts),
    sendsRemaining: Math.max(0, row.maxSends - row.sends),
    risk: {
      decision: row.risk.decision,
      reasons: row.risk.reasons,
      ...(row.status === 'screening' && row.risk.voiceContract?.inboundCall ? { inboundCall: row.risk.voiceContract.inboundCall } : {}),
    },
    delivery,
    transaction: row.transaction,
    reference: row.reference,
    createdAt: row.createdAt.toISOString(),
    approvedAt: row.approvedAt?.toISOString() ?? null,
    ...(row.test ? { test: true } : {}),
  };
}
