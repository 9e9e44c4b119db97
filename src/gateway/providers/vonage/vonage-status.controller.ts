import { Body, Controller, Headers, HttpCode, Post, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ProblemException, Problems } from '../../../common/problem';
import { AppConfig } from '../../../config/app-config';
import { DeliveryReceipts } from '../../delivery-receipts.service';
import { deliveryStatusOf } from './vonage.mapping';
import { isValidVonageSignature } from './vonage-signature';
import { ProviderCallbacks } from '../provider-callbacks';

/**
 * POST /v1/callbacks/vonage/status: the Messages API's status webhooks for our SMS (JSON; `client_ref` is our
 * outbox id). No API key: the request must carry Vonage's signed JWT (vonage-signature.ts) over the exact body
 * received; a missing or bad one is 403 and changes nothing. Answered 204, duplicates and late statuses too.
 * Mounted only when Vonage is configured.
 */
@ApiExcludeController()
@ProviderCallbacks()
@Controller('v1/callbacks/vonage')
export class VonageStatusController {
  private readonly secret: string;

  constructor(
    private readonly receipts: DeliveryReceipts,
    config: AppConfig,
  ) {
    this.secret = config.gateway.vonage?.signatureSecret as string;
  }

  @Post('status')
  @HttpCode(204)
  async status(@Req() req: FastifyRequest & { rawBody?: Buffer }, @Headers('authorization') authorization: string | undefined, @Body() body: unknown): Promise<void> {
    if (!isValidVonageSignature(this.secret, authorization, req.rawBody)) {
      throw Problems.forbidden('The Authorization header is missing or is not a Vonage signature of this request.');
    }
    const b = (body && typeof body === 'object' && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
    const uuid = b.message_uuid;
    const ref = b.client_ref;
    if (typeof uuid !== 'string' || !/^[0-9a-f-]{36}$/i.test(uuid)) throw new ProblemException(400, 'validation_failed', 'message_uuid is missing or is not a Vonage message id.');
    if (typeof ref !== 'string' || !/^msg_[0-9A-Z]{26}$/.test(ref)) return; // not one of our code messages
    const status = deliveryStatusOf(b.status);
    if (!status) return;
    const error = b.error && typeof b.error === 'object' ? (b.error as { type?: unknown }).type : undefined;
    const errorCode = typeof error === 'string' ? (/#([A-Za-z0-9_-]{1,40})$/.exec(error)?.[1] ?? null) : null;
    await this.receipts.record({ provider: 'vonage', outboxId: ref, providerMessageId: uuid, status, errorCode });
  }
}
