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
  @ApiProperty({ enum: ['allow', 'screen', 'deny'] }) decision!: string;
  @ApiProperty({ type: [String] }) reasons!: string[];
  @ApiPropertyOptional({
    type: InboundCallView,
    description: 'Only while the verification is in `screening` for an inbound check (policy method `ivr_inbound`): the person calls this number from their phone; the code is sent once the call arrives.',
  })
  inboundCall?: InboundCallView;
}

export class DeliveryView {
  @ApiProperty({ enum: ['queued', 'sent', 'delivered', 'undelivered', 'failed'] }) status!: string;
  @ApiProperty({ nullable: true, type: String }) provider!: string | null;
  @ApiProperty() attempts!: number;
  @ApiProperty() updatedAt!: string;
}

/** The verification object of API.md. */
export class VerificationView {
  @ApiProperty({ example: 'vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ enum: STATUSES }) status!: VerificationStatus;
  @ApiProperty({ example: '+81*******5678' }) phoneNumber!: string;
  @ApiProperty({ enum: ['sms', 'voice'] }) channel!: string;
  @ApiProperty() purpose!: string;
  @ApiProperty({ enum: ['ja', 'en'] }) locale!: string;
  @ApiProperty() expiresAt!: string;
  @ApiProperty() resendAvailableAt!: string;
  @ApiProperty() attemptsRemaining!: number;
  @ApiProperty() sendsRemaining!: number;
  @ApiProperty({ type: RiskView }) risk!: RiskView;
  @ApiProperty({ type: DeliveryView, nullable: true }) delivery!: DeliveryView | null;
  @ApiPropertyOptional({ type: TransactionDto, nullable: true }) transaction!: TransactionDto | null;
  @ApiPropertyOptional({ nullable: true, type: String }) reference!: string | null;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) approvedAt!: string | null;
}
