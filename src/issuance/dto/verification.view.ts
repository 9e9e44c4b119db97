import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { TransactionDto } from './transaction.dto';

export const STATUSES = ['screening', 'pending', 'approved', 'expired', 'locked', 'canceled', 'denied', 'failed'] as const;
export type VerificationStatus = (typeof STATUSES)[number];

/** An inbound voice-contract check waits for the person's call: what the calling service shows them. */
export class InboundCallView {
  @ApiProperty({ example: '+815012345678', description: 'The service\'s number the person must call from the phone being verified.' }) callTo!: string;
  @ApiProperty({ format: 'date-time', description: 'A call after this time does not count.' }) callBy!: string;
}

export class RiskView {
  @ApiProperty({ enum: ['allow', 'screen', 'deny'], example: 'allow' }) decision!: string;
  @ApiProperty({ type: [String], example: [], description: 'Stable reason codes (API.md, Risk screening); empty when allowed.' }) reasons!: string[];
  @ApiPropertyOptional({
    type: InboundCallView,
    description: 'Only while the verification is in `screening` for an inbound check (policy method `ivr_inbound`): the person calls this number from their phone; the code is sent once the call arrives.',
  })
  inboundCall?: InboundCallView;
}

export class DeliveryView {
  @ApiProperty({ enum: ['queued', 'sent', 'delivered', 'undelivered', 'failed'], example: 'sent' }) status!: string;
  @ApiProperty({ nullable: true, type: String, example: 'twilio', description: 'The provider that took the message; null while queued.' }) provider!: string | null;
  @ApiProperty({ type: 'integer', minimum: 0, example: 1 }) attempts!: number;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:00:01.000Z' }) updatedAt!: string;
}

/** The verification object of API.md. */
export class VerificationView {
  @ApiProperty({ example: 'vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ enum: STATUSES, example: 'pending', description: 'Only screening and pending can change; the rest are final.' }) status!: VerificationStatus;
  @ApiProperty({ example: '+81*******5678', description: 'Masked.' }) phoneNumber!: string;
  @ApiProperty({ enum: ['sms', 'voice'], example: 'sms' }) channel!: string;
  @ApiProperty({ example: 'login' }) purpose!: string;
  @ApiProperty({ enum: ['ja', 'en'], example: 'ja' }) locale!: string;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:05:00.000Z' }) expiresAt!: string;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:01:00.000Z', description: 'Before this, resend answers 429 resend_too_soon.' }) resendAvailableAt!: string;
  @ApiProperty({ type: 'integer', minimum: 0, example: 5, description: 'Wrong codes still allowed; at 0 the verification is locked.' }) attemptsRemaining!: number;
  @ApiProperty({ type: 'integer', minimum: 0, example: 4, description: 'Codes that can still be sent (resends).' }) sendsRemaining!: number;
  @ApiProperty({ type: RiskView }) risk!: RiskView;
  @ApiProperty({ type: DeliveryView, nullable: true, description: 'The latest message; null when none was queued (screening, denied).' }) delivery!: DeliveryView | null;
  @ApiProperty({ type: TransactionDto, nullable: true, description: 'The transaction the code is bound to, when one was given.' }) transaction!: TransactionDto | null;
  @ApiProperty({ nullable: true, type: String, example: 'order-8812' }) reference!: string | null;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:00:00.000Z' }) createdAt!: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time', example: null }) approvedAt!: string | null;
  @ApiPropertyOptional({
    type: Boolean,
    enum: [true],
    description: "Present (true) only on a verification of one of the client's test numbers: it reached no provider and accepts the test number's fixed code.",
  })
  test?: true;
}

/** A start answered 202: the number waits for its voice-contract check, no code is sent yet (the OpenAPI example). */
export const SCREENING_EXAMPLE: VerificationView = {
  id: 'vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F',
  status: 'screening',
  phoneNumber: '+81*******5678',
  channel: 'sms',
  purpose: 'transfer',
  locale: 'ja',
  expiresAt: '2026-11-24T12:05:00.000Z',
  resendAvailableAt: '2026-11-24T12:01:00.000Z',
  attemptsRemaining: 5,
  sendsRemaining: 5,
  risk: { decision: 'screen', reasons: ['voice_contract_unknown'] },
  delivery: null,
  transaction: { amount: '150000', currency: 'JPY', payee: 'ACME Ltd' },
  reference: 'order-8812',
  createdAt: '2026-11-24T12:00:00.000Z',
  approvedAt: null,
};
