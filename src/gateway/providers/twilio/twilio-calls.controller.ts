import { Body, Controller, Headers, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProblemException, Problems } from '../../../common/problem';
import { AppConfig } from '../../../config/app-config';
import { VoiceCallsService } from '../../voice-calls.service';
import { callerOf, stepOfGatherAction, stepOfStatusCallback } from './twilio-calls.mapping';
import { FormParams, isValidTwilioSignature, TWILIO_SIGNATURE_HEADER } from './twilio-signature';
import { closingTwiml, rejectTwiml } from './twilio-twiml';
import { ProviderCallbacks } from '../provider-callbacks';

/**
 * POST /v1/callbacks/twilio/calls: Twilio's status callbacks and <Gather> actions for IVR check calls (the URLs
 * TwilioProvider gives it). No API key: each request must carry Twilio's X-Twilio-Signature over the URL
 * Twilio called (PUBLIC_CALLBACK_BASE_URL + the path and query we received) and the form parameters, made with
 * the auth token; a missing or bad one is 403 and changes nothing. A status callback is answered 204; a
 * <Gather> action 200 with TwiML that says goodbye and hangs up. Mounted only when Twilio is configured.
 */
@ApiExcludeController()
@ProviderCallbacks()
@Controller('v1/callbacks/twilio')
export class TwilioCallsController {
  private readonly authToken: string;
  private readonly accountSid: string;
  private readonly publicBaseUrl: string;

  constructor(
    private readonly calls: VoiceCallsService,
    config: AppConfig,
  ) {
    this.authToken = config.gateway.twilio?.authToken as string;
    this.accountSid = config.gateway.twilio?.accountSid as string;
    this.publicBaseUrl = config.gateway.publicCallbackBaseUrl as string;
  }

  @Post('calls')
  @HttpCode(204)
  async callEvent(
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Headers(TWILIO_SIGNATURE_HEADER) signature: string | undefined,
    @Body() body: unknown,
    @Query('ref') ref: unknown,
    @Query('lang') lang: unknown,
    @Query('step') stepName: unknown,
  ): Promise<string | void> {
    const params: FormParams = body && typeof body === 'object' && !Array.isArray(body) ? (body as FormParams) : {};
    this.assertFromTwilio(req, signature, params);
    const callSid = params.CallSid;
    if (typeof callSid !== 'string' || !/^CA[0-9a-fA-F]{32}$/.test(callSid)) {
      throw new ProblemException(400, 'validation_failed', 'CallSid is missing or is not a Twilio call sid.');
    }
    const reference = typeof ref === 'string' && ref.length > 0 && ref.length <= 128 ? ref : null;
    const gather = stepName === 'gather';
    const step = gather ? stepOfGatherAction(params) : stepOfStatusCallback(params);
    if (step) await this.calls.record('twilio', callSid, reference, step);
    if (!gather) return;
    reply.status(200).header('content-type', 'text/xml; charset=utf-8');
    return closingTwiml(lang === 'en' ? 'en' : 'ja');
  }

  /**
   * POST /v1/callbacks/twilio/inbound-calls: Twilio's voice webhook for the service's own number (the "A call comes
   * in" URL of RISK_INBOUND_CHECK_NUMBER). Signed like the others (403 otherwise). The caller id confirms an open
   * inbound voice-contract check of that number; withheld callers confirm nothing. The call is always refused
   * unanswered (<Reject>), so it costs the caller nothing.
   */
  @Post('inbound-calls')
  @HttpCode(200)
  async inboundCall(
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Headers(TWILIO_SIGNATURE_HEADER) signature: string | undefined,
    @Body() body: unknown,
  ): Promise<string> {
    const params: FormParams = body && typeof body === 'object' && !Array.isArray(body) ? (body as FormParams) : {};
    this.assertFromTwilio(req, signature, params);
    const callSid = params.CallSid;
    const to = params.To;
    if (typeof callSid !== 'string' || !/^CA[0-9a-fA-F]{32}$/.test(callSid) || typeof to !== 'string') {
      throw new ProblemException(400, 'validation_failed', 'CallSid and To are required.');
    }
    await this.calls.recordInbound('twilio', callSid, callerOf(params), to);
    reply.header('content-type', 'text/xml; charset=utf-8');
    return rejectTwiml();
  }

  /** 403 unless Twilio signed this request (URL and form) with our auth token, for our account. */
  private assertFromTwilio(req: FastifyRequest, signature: string | undefined, params: FormParams): void {
    if (!isValidTwilioSignature(this.authToken, signature, this.publicBaseUrl + req.url, params)) {
      throw Problems.forbidden('The X-Twilio-Signature header is missing or does not match this request.');
    }
    // Defence in depth: a valid signature from another account that shares the token (or a misrouted webhook) changes nothing here.
    if (params.AccountSid !== this.accountSid) throw Problems.forbidden('The request is for another Twilio account.');
  }
}
