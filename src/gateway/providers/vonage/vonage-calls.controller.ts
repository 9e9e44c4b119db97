import { Body, Controller, Headers, HttpCode, Logger, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProblemException, Problems } from '../../../common/problem';
import { AppConfig } from '../../../config/app-config';
import { VoiceCallsService } from '../../voice-calls.service';
import { callIdOf, stepOfCallEvent, stepOfInput } from './vonage-calls.mapping';
import { closingNcco, Ncco } from './vonage-ncco';
import { isValidVonageSignature } from './vonage-signature';
import { ProviderCallbacks } from '../provider-callbacks';

/**
 * POST /v1/callbacks/vonage/calls: the Voice API's event webhooks for IVR check calls (`event_url`) and the key
 * input of their NCCO (`…&step=input`), JSON, at the URLs VonageProvider gives. No API key: each request must carry
 * Vonage's signed JWT (vonage-signature.ts: HS256 with the signature secret, `payload_hash` over the exact body, and
 * not for another application); a missing or bad one is 403 and changes nothing. That signature covers the body, not
 * the URL, so a callback whose `ref` differs from the one the call was placed with is 403 too (a genuine body replayed
 * to another check). An event is answered 204; the input 200 with the NCCO that follows it (a goodbye, then the call
 * ends). Mounted only when Vonage is configured.
 */
@ApiExcludeController()
@ProviderCallbacks()
@Controller('v1/callbacks/vonage')
export class VonageCallsController {
  private readonly logger = new Logger(VonageCallsController.name);
  private readonly secret: string;
  private readonly applicationId: string | undefined;

  constructor(
    private readonly calls: VoiceCallsService,
    config: AppConfig,
  ) {
    this.secret = config.gateway.vonage?.signatureSecret as string;
    this.applicationId = config.gateway.vonage?.applicationId;
  }

  @Post('calls')
  @HttpCode(204)
  async callEvent(
    @Req() req: FastifyRequest & { rawBody?: Buffer },
    @Res({ passthrough: true }) reply: FastifyReply,
    @Headers('authorization') authorization: string | undefined,
    @Body() body: unknown,
    @Query('ref') ref: unknown,
    @Query('lang') lang: unknown,
    @Query('step') stepName: unknown,
  ): Promise<Ncco | void> {
    if (!isValidVonageSignature(this.secret, authorization, req.rawBody, this.applicationId)) {
      throw Problems.forbidden('The Authorization header is missing or is not a Vonage signature of this request.');
    }
    const b = (body && typeof body === 'object' && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
    const input = stepName === 'input';
    const callId = callIdOf(b);
    if (!callId) {
      // Vonage also posts NCCO and webhook errors to the event URL, about no call: noted, nothing to record.
      if (!input && b.status === undefined && typeof b.reason === 'string') {
        // (digit runs masked: an error text may quote a number)
        this.logger.warn({ reason: b.reason.slice(0, 200).replace(/\d{5,}/g, '***') }, 'Vonage reported an error for an IVR check call');
        return;
      }
      throw new ProblemException(400, 'validation_failed', 'uuid is missing or is not a Vonage call id.');
    }
    const reference = typeof ref === 'string' && ref.length > 0 && ref.length <= 128 ? ref : null;
    const known = await this.calls.find('vonage', callId);
    if (known?.reference && reference !== known.reference) throw Problems.forbidden('The callback names another reference than its call was placed with.');
    const step = input ? stepOfInput(b) : stepOfCallEvent(b);
    if (step) await this.calls.record('vonage', callId, reference, step);
    if (!input) return;
    reply.status(200).header('content-type', 'application/json');
    return closingNcco(lang === 'en' ? 'en' : 'ja');
  }
}
