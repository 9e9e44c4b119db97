import { Body, Controller, Headers, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ProblemException, Problems } from '../../../common/problem';
import { AppConfig } from '../../../config/app-config';
import { DeliveryReceipts } from '../../delivery-receipts.service';
import { deliveryStatusOf } from './twilio-messages.mapping';
import { FormParams, isValidTwilioSignature, TWILIO_SIGNATURE_HEADER } from './twilio-signature';
import { ProviderCallbacks } from '../provider-callbacks';

const one = (params: FormParams, name: string): string | undefined => {
  const v = params[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * POST /v1/callbacks/twilio/status: Twilio's message status callbacks (the StatusCallback TwilioProvider gives
 * each SMS, naming our outbox id in `ref`). No API key: the request must carry Twilio's X-Twilio-Signature over
 * the URL Twilio called (PUBLIC_CALLBACK_BASE_URL + the path and query we received) and the form parameters; a
 * missing or bad one is 403 and changes nothing. Answered 204, also for duplicates and late statuses (which
 * change nothing either), so Twilio does not retry them. Mounted only when Twilio is configured.
 */
@ApiExcludeController()
@ProviderCallbacks()
@Controller('v1/callbacks/twilio')
export class TwilioStatusController {
  private readonly authToken: string;
  private readonly publicBaseUrl: string;

  constructor(
    private readonly receipts: DeliveryReceipts,
    config: AppConfig,
  ) {
    this.authToken = config.gateway.twilio?.authToken as string;
    this.publicBaseUrl = config.gateway.publicCallbackBaseUrl as string;
  }

  @Post('status')
  @HttpCode(204)
  async status(@Req() req: FastifyRequest, @Headers(TWILIO_SIGNATURE_HEADER) signature: string | undefined, @Body() body: unknown, @Query('ref') ref: unknown): Promise<void> {
    const params: FormParams = body && typeof body === 'object' && !Array.isArray(body) ? (body as FormParams) : {};
    if (!isValidTwilioSignature(this.authToken, signature, this.publicBaseUrl + req.url, params)) {
      throw Problems.forbidden('The X-Twilio-Signature header is missing or does not match this request.');
    }
    const sid = one(params, 'MessageSid');
    if (typeof sid !== 'string' || !/^[SM]M[0-9a-fA-F]{32}$/.test(sid)) throw new ProblemException(400, 'validation_failed', 'MessageSid is missing or is not a Twilio message sid.');
    if (typeof ref !== 'string' || !/^msg_[0-9A-Z]{26}$/.test(ref)) throw new ProblemException(400, 'validation_failed', 'ref is missing or is not an outbox id.');
    const status = deliveryStatusOf(one(params, 'MessageStatus'));
    if (!status) return;
    const errorCode = one(params, 'ErrorCode');
    await this.receipts.record({ provider: 'twilio', outboxId: ref, providerMessageId: sid, status, errorCode: errorCode && /^\d{1,6}$/.test(errorCode) ? errorCode : null });
  }
}
