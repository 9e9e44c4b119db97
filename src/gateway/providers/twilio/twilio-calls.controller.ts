import { Body, Controller, Headers, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../../common/auth';
import { ProblemException, Problems } from '../../../common/problem';
import { AppConfig } from '../../../config/app-config';
import { VoiceCallsService } from '../../voice-calls.service';
import { stepOfGatherAction, stepOfStatusCallback } from './twilio-calls.mapping';
import { FormParams, isValidTwilioSignature, TWILIO_SIGNATURE_HEADER } from './twilio-signature';
import { closingTwiml } from './twilio-twiml';

/**
 * POST /v1/callbacks/twilio/calls: Twilio's status callbacks and <Gather> actions for IVR check calls (the URLs
 * TwilioVoiceProvider gives it). No API key: each request must carry Twilio's X-Twilio-Signature over the URL
 * Twilio called (PUBLIC_CALLBACK_BASE_URL + the path and query we received) and the form parameters, made with
 * the auth token; a missing or bad one is 403 and changes nothing. A status callback is answered 204; a
 * <Gather> action 200 with TwiML that says goodbye and hangs up. Mounted only when Twilio is configured.
 */
@ApiExcludeController()
@Public()
@Controller('v1/callbacks/twilio')
export class TwilioCallsController {
  private readonly authToken: string;
  private readonly publicBaseUrl: string;

  constructor(
    private readonly calls: VoiceCallsService,
    config: AppConfig,
  ) {
    this.authToken = config.gateway.twilio?.authToken as string;
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
    if (!isValidTwilioSignature(this.authToken, signature, this.publicBaseUrl + req.url, params)) {
      throw Problems.forbidden('The X-Twilio-Signature header is missing or does not match this request.');
    }
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
}
