import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { VerificationView } from '../../issuance/dto/verification.view';
import type { WebhookType } from '../result-webhooks';

/** The types of result webhook (API.md, Webhooks to the calling service); checked against WebhookType below. */
export const WEBHOOK_TYPES = [
  'verification.approved',
  'verification.locked',
  'verification.expired',
  'verification.denied',
  'verification.failed',
  'message.delivered',
  'message.undelivered',
] as const satisfies readonly WebhookType[];

/** The body of a result webhook (ResultWebhooks.enqueue), documented under the OpenAPI document's `webhooks`. */
@ApiSchema({ name: 'WebhookEvent' })
export class WebhookEventView {
  @ApiProperty({ example: 'evt_01JD3Y8N6W2Q5V7X9Z1B3C5D7F', description: 'Also sent as the webhook-id header; the same on every retry.' }) id!: string;
  @ApiProperty({ enum: WEBHOOK_TYPES, example: 'verification.approved' }) type!: WebhookType;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:00:00.000Z' }) createdAt!: string;
  @ApiProperty({ type: VerificationView, description: 'The verification as GET /v1/verifications/{id} answers it when the event happened.' }) data!: VerificationView;
}
