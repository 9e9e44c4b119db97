import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Clock } from '../../../common/clock';
import { Problems } from '../../../common/problem';
import { AppConfig, HttpReceiptConfig } from '../../../config/app-config';
import { DeliveryReceipts } from '../../delivery-receipts.service';
import { readPath } from './http-template';
import { verifyHttpReceipt } from './http-signature';
import { ProviderCallbacks } from '../provider-callbacks';

/**
 * POST /v1/callbacks/http/status: the generic provider's delivery receipts, JSON, signed with
 * PROVIDER_HTTP_RECEIPT_SECRET (http-signature.ts: HMAC-SHA256 over `<timestamp>.<raw body>`, the signature and the
 * timestamp in PROVIDER_HTTP_RECEIPT_SIGNATURE_HEADER / _TIMESTAMP_HEADER). No API key: a missing or bad signature,
 * or a timestamp outside PROVIDER_HTTP_RECEIPT_TOLERANCE_SECONDS, is 403 and changes nothing. The receipt's fields
 * are read at configured dot paths: our outbox id (the `{{reference}}` the request carried), the provider's message
 * id, and its status, mapped onto ours by PROVIDER_HTTP_RECEIPT_STATUS_MAP; one naming no message of ours, or a
 * status the map does not know, is answered 204 and ignored, as are duplicates and late statuses. Mounted only
 * when PROVIDER_HTTP_RECEIPT_SECRET is set.
 */
@ApiExcludeController()
@ProviderCallbacks()
@Controller('v1/callbacks/http')
export class HttpStatusController {
  private readonly cfg: HttpReceiptConfig;

  constructor(
    private readonly receipts: DeliveryReceipts,
    private readonly clock: Clock,
    config: AppConfig,
  ) {
    this.cfg = config.gateway.http.receipts as HttpReceiptConfig;
  }

  @Post('status')
  @HttpCode(204)
  async status(@Req() req: FastifyRequest & { rawBody?: Buffer }, @Body() body: unknown): Promise<void> {
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const verdict = verifyHttpReceipt(this.cfg, header(this.cfg.signatureHeader), header(this.cfg.timestampHeader), req.rawBody, this.clock.now().getTime());
    if (verdict === 'stale') throw Problems.forbidden('The receipt\'s timestamp is outside the accepted window.');
    if (verdict !== 'ok') throw Problems.forbidden('The signature header is missing or is not a signature of this request.');
    const ref = readPath(body, this.cfg.referencePath);
    if (typeof ref !== 'string' || !/^msg_[0-9A-Z]{26}$/.test(ref)) return; // not one of our code messages
    const theirs = readPath(body, this.cfg.statusPath);
    const status = typeof theirs === 'string' || typeof theirs === 'number' ? this.cfg.statusMap[String(theirs)] : undefined;
    if (!status) return;
    const id = readPath(body, this.cfg.idPath);
    const providerMessageId = typeof id === 'string' && id.length > 0 ? id.slice(0, 128) : typeof id === 'number' && Number.isFinite(id) ? String(id) : null;
    await this.receipts.record({ provider: 'http', outboxId: ref, providerMessageId, status, errorCode: null });
  }
}
