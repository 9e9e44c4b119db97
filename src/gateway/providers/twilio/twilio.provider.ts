import { Logger } from '@nestjs/common';
import type twilio from 'twilio';
import { maskPhone } from '../../../common/phone';
import type { TwilioConfig } from '../../../config/app-config';
import { CallNotPlaced, CallPlaced, CheckCall, OutgoingCall, OutgoingSms, ProviderAccepted, ProviderError, SmsGateway, VoiceGateway } from '../../ports';
import { TWILIO_INVALID_NUMBER_CODES } from './twilio-calls.mapping';
import { isTwilioRestError, twilioClient, TwilioRateLimited, TwilioUnreadableAcceptance } from './twilio-client';
import { twilioRefusal } from './twilio-messages.mapping';
import { checkCallTwiml, readOutTwiml } from './twilio-twiml';

/** Where Twilio posts call progress and <Gather> results; TwilioCallsController answers there. */
export const TWILIO_CALLS_CALLBACK_PATH = '/v1/callbacks/twilio/calls';
/** Where Twilio posts the delivery status of SMS; TwilioStatusController answers there. */
export const TWILIO_STATUS_CALLBACK_PATH = '/v1/callbacks/twilio/status';

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

/** The status callback URL of one SMS: it names our outbox id, which comes back (signed) with every receipt. */
export function twilioStatusUrl(publicBaseUrl: string, reference: string): string {
  return `${publicBaseUrl}${TWILIO_STATUS_CALLBACK_PATH}?ref=${encodeURIComponent(reference)}`;
}

/**
 * Twilio Programmable Messaging and Voice through the official `twilio` SDK (pointed at TWILIO_API_BASE_URL
 * through its httpClient option, see twilio-client.ts):
 * - SMS: Messages.create with our status callback URL, which carries the outbox id (Twilio's Messages API takes
 *   no client reference or idempotency key: the callback URL is how receipts find the message);
 * - code calls: Calls.create with inline TwiML that reads the text twice, slowly (ja-JP or en-US);
 * - IVR check calls: Calls.create with a one-key <Gather>, status callbacks and answering-machine detection; their
 *   progress comes back to TwilioCallsController.
 * Refusals are mapped in this folder (twilio-messages.mapping.ts, twilio-calls.mapping.ts).
 */
export class TwilioProvider implements SmsGateway, VoiceGateway {
  readonly name = 'twilio';
  private readonly logger = new Logger('TwilioProvider');
  private readonly client: twilio.Twilio;

  constructor(
    private readonly config: TwilioConfig,
    private readonly publicBaseUrl: string,
    timeoutMs: number,
  ) {
    this.client = twilioClient(config, timeoutMs);
  }

  async send(sms: OutgoingSms): Promise<ProviderAccepted> {
    let sid: unknown;
    try {
      const message = await this.client.messages.create({ to: sms.to, from: this.config.fromNumber, body: sms.body, statusCallback: twilioStatusUrl(this.publicBaseUrl, sms.reference) });
      sid = message.sid;
    } catch (err) {
      if (!(err instanceof TwilioUnreadableAcceptance)) throw twilioRefusal(err);
    }
    return { provider: this.name, providerMessageId: this.accepted(sid, /^[SM]M[0-9a-fA-F]{32}$/, sms.to, sms.reference) };
  }

  /** A voice code message: the TwiML reads the text twice, slowly. Progress callbacks are not asked for (no IVR). */
  async call(call: OutgoingCall): Promise<ProviderAccepted> {
    let sid: unknown;
    try {
      const created = await this.client.calls.create({ to: call.to, from: this.config.fromNumber, twiml: readOutTwiml(call.speech, call.locale), timeout: RING_TIMEOUT_SECONDS });
      sid = created.sid;
    } catch (err) {
      if (!(err instanceof TwilioUnreadableAcceptance)) throw twilioRefusal(err);
    }
    return { provider: this.name, providerMessageId: this.accepted(sid, /^CA[0-9a-fA-F]{32}$/, call.to, call.reference) };
  }

  async placeCheckCall(call: CheckCall): Promise<CallPlaced> {
    const urls = twilioCallbackUrls(this.publicBaseUrl, call.reference, call.locale);
    let sid: unknown;
    try {
      const created = await this.client.calls.create({
        to: call.to,
        from: this.config.fromNumber,
        twiml: checkCallTwiml(call.prompt, call.locale, urls.gather),
        statusCallback: urls.status,
        statusCallbackMethod: 'POST',
        statusCallbackEvent: STATUS_EVENTS,
        timeout: RING_TIMEOUT_SECONDS,
        // An answering machine never confirms: Twilio tells us who answered (AnsweredBy) on the status callbacks.
        machineDetection: 'Enable',
      });
      sid = created.sid;
    } catch (err) {
      throw callNotPlaced(err);
    }
    if (typeof sid !== 'string' || !/^CA[0-9a-fA-F]{32}$/.test(sid)) {
      // Twilio took the call but we cannot follow it: its callbacks still arrive and record it under its sid.
      this.logger.warn({ to: maskPhone(call.to), reference: call.reference }, 'Twilio accepted the call without a valid call sid');
      throw new ProviderError(this.name, 'accepted without a call sid', false);
    }
    return { provider: this.name, callId: sid };
  }

  /** A 2xx is accepted: without a readable sid (a malformed body) it is still sent, never again, and logged. */
  private accepted(sid: unknown, pattern: RegExp, to: string, reference: string): string | null {
    if (typeof sid === 'string' && pattern.test(sid)) return sid;
    this.logger.warn({ to: maskPhone(to), reference }, 'Twilio accepted the request without a readable sid: recorded as sent with no provider id');
    return null;
  }
}

/** A refused check call, with what it means for the number (Twilio's invalid-number codes: unallocated). */
function callNotPlaced(err: unknown): CallNotPlaced {
  const refusal = twilioRefusal(err);
  const code = err instanceof TwilioRateLimited ? err.code : isTwilioRestError(err) && typeof err.code === 'number' ? err.code : undefined;
  if (code !== undefined && TWILIO_INVALID_NUMBER_CODES.has(code)) return new CallNotPlaced('twilio', refusal.message, 'unallocated', false, refusal.statusCode, code);
  return new CallNotPlaced('twilio', refusal.message, 'route_error', refusal.retryable, refusal.statusCode, code, { unknown: refusal.unknown, retryAfterMs: refusal.retryAfterMs });
}
