import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { TransactionDto } from './transaction.dto';

export const STATUSES = ['screening', 'pending', 'approved', 'expired', 'locked', 'canceled', 'denied', 'failed'] as const;
export type VerificationStatus = (typeof STATUSES)[number];

export class RiskView {
  @ApiProperty({ enum: ['allow', 'screen', 'deny'] }) decision!: string;
  @ApiProperty({ type: [String] }) reasons!: string[];
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
