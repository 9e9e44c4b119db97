import { Logger } from '@nestjs/common';
import { httpPost, PostError, PostResult } from '../../../common/http-post';
import { maskPhone } from '../../../common/phone';
import type { TwilioConfig } from '../../../config/app-config';
import { CallNotPlaced, CallPlaced, CheckCall, OutgoingCall, ProviderAccepted, ProviderError, VoiceGateway } from '../../ports';
import { TWILIO_INVALID_NUMBER_CODES } from './twilio-calls.mapping';
import { checkCallTwiml, readOutTwiml } from './twilio-twiml';

/** Where Twilio posts call progress and <Gather> results; TwilioCallsController answers there. */
export const TWILIO_CALLS_CALLBACK_PATH = '/v1/callbacks/twilio/calls';

/** Seconds Twilio lets the phone ring before it gives up (`no-answer`). */
const RING_TIMEOUT_SECONDS = 30;

/** The status callback events asked for: every step, so a call's progress is seen as it happens. */
const STATUS_EVENTS = ['initiated', 'ringing', 'answered', 'completed'];

export interface TwilioCallbackUrls {
  status: string;
  gather: string;
}

/** The callback URLs of one call: ours, under PUBLIC_CALLBACK_BASE_URL, naming the reference and the locale (Twilio signs them whole). */
export function twilioCallbackUrls(publicBaseUrl: string, reference: string, locale: 'ja' | 'en'): TwilioCallbackUrls {
  const status = `${publicBaseUrl}${TWILIO_CALLS_CALLBACK_PATH}?ref=${encodeURIComponent(reference)}&lang=${locale}`;
  return { status, gather: `${status}&step=gather` };
}

/**
 * Twilio Programmable Voice through its REST API (POST /2010-04-01/Accounts/{AccountSid}/Calls.json, form-encoded,
 * Basic auth AccountSid:AuthToken; 201 with the call resource, `sid` CA…; errors as { code, message, more_info,
 * status }). A small client rather than the `twilio` SDK: the SDK is not among the project's dependencies, and
 * this is one request. The call's TwiML goes inline (`Twiml`), its progress comes back to TwilioCallsController.
 */
export class TwilioVoiceProvider implements VoiceGateway {
  readonly name = 'twilio';
  private readonly logger = new Logger('TwilioVoiceProvider');
  private readonly callsUrl: string;
  private readonly authorization: string;

  constructor(
    private readonly config: TwilioConfig,
    private readonly publicBaseUrl: string,
    private readonly timeoutMs: number,
  ) {
    this.callsUrl = `${config.apiBaseUrl}/2010-04-01/Accounts/${encodeURIComponent(config.accountSid)}/Calls.json`;
    this.authorization = 'Basic ' + Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64');
  }

  /** A voice code message: the TwiML reads the text twice. Progress callbacks are not asked for (no IVR). */
  async call(call: OutgoingCall): Promise<ProviderAccepted> {
    const form = new URLSearchParams({ To: call.to, From: this.config.fromNumber, Twiml: readOutTwiml(call.speech, call.locale), Timeout: String(RING_TIMEOUT_SECONDS) });
    const callId = await this.createCall(form, call.to, call.reference);
    return { provider: this.name, providerMessageId: callId };
  }

  async placeCheckCall(call: CheckCall): Promise<CallPlaced> {
    const urls = twilioCallbackUrls(this.publicBaseUrl, call.reference, call.locale);
    const form = new URLSearchParams({
      To: call.to,
      From: this.config.fromNumber,
      Twiml: checkCallTwiml(call.prompt, call.locale, urls.gather),
      StatusCallback: urls.status,
      StatusCallbackMethod: 'POST',
      Timeout: String(RING_TIMEOUT_SECONDS),
      // An answering machine never confirms: Twilio tells us who answered (AnsweredBy) on the status callbacks.
      MachineDetection: 'Enable',
    });
    for (const event of STATUS_EVENTS) form.append('StatusCallbackEvent', event);
    return { provider: this.name, callId: await this.createCall(form, call.to, call.reference) };
  }

  /** Creates the call and returns its sid; a refusal is a CallNotPlaced saying what it means for the number. */
  private async createCall(form: URLSearchParams, to: string, reference: string): Promise<string> {
    let res: PostResult;
    try {
      res = await httpPost(this.callsUrl, { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', authorization: this.authorization }, form.toString(), this.timeoutMs);
    } catch (err) {
      const reason = err instanceof PostError && err.reason === 'timeout' ? `timed out after ${this.timeoutMs} ms` : 'connection failed';
      throw new CallNotPlaced(this.name, reason, 'route_error', true);
    }
    const body = parseJson(res.body);
    if (res.status === 201 || res.status === 200) {
      const sid = body?.sid;
      if (typeof sid !== 'string' || !/^CA[0-9a-fA-F]{32}$/.test(sid)) {
        // Twilio took the call but we cannot follow it: its callbacks still arrive and record it under its sid.
        this.logger.warn({ to: maskPhone(to), reference, statusCode: res.status }, 'Twilio accepted the call without a valid call sid');
        throw new ProviderError(this.name, `HTTP ${res.status} without a call sid`, false, res.status);
      }
      return sid;
    }
    const code = typeof body?.code === 'number' ? body.code : undefined;
    const message = typeof body?.message === 'string' ? body.message.slice(0, 200) : '';
    const what = `HTTP ${res.status}${code !== undefined ? ` (Twilio error ${code})` : ''}${message ? `: ${message}` : ''}`;
    if (code !== undefined && TWILIO_INVALID_NUMBER_CODES.has(code)) throw new CallNotPlaced(this.name, what, 'unallocated', false, res.status, code);
    // 429 and 5xx may pass; any other 4xx (credentials, permissions, geography) will not change by retrying here.
    const retryable = res.status === 429 || res.status >= 500 || res.status === 408;
    throw new CallNotPlaced(this.name, what, 'route_error', retryable, res.status, code);
  }
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
