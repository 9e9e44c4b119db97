import { Logger } from '@nestjs/common';
import type { Vonage } from '@vonage/server-sdk';
import { maskPhone } from '../../../common/phone';
import type { VonageConfig } from '../../../config/app-config';
import { CallNotPlaced, CallPlaced, CheckCall, OutgoingCall, OutgoingSms, ProviderAccepted, ProviderError, SmsGateway, VoiceGateway } from '../../ports';
import { acceptedDespite, vonageRefusal } from './vonage.mapping';
import { checkCallNcco, readOutNcco } from './vonage-ncco';

/** Where Vonage posts the status of SMS; VonageStatusController answers there. */
export const VONAGE_STATUS_CALLBACK_PATH = '/v1/callbacks/vonage/status';
/** Where Vonage posts the events and the key input of IVR check calls; VonageCallsController answers there. */
export const VONAGE_CALLS_CALLBACK_PATH = '/v1/callbacks/vonage/calls';

/** Seconds Vonage lets the phone ring before it gives up (event `timeout`), as for Twilio. */
const RINGING_TIMER_SECONDS = 30;
/** The longest a check call may last once answered, in seconds: the prompt twice, the wait for the key, a goodbye. */
const LENGTH_TIMER_SECONDS = 90;

export interface VonageCallbackUrls {
  event: string;
  input: string;
}

/**
 * The callback URLs of one check call, under PUBLIC_CALLBACK_BASE_URL, naming the reference and the locale. Unlike
 * Twilio's, Vonage's signature covers the body only (its `payload_hash`), not the URL: VonageCallsController
 * refuses a reference that differs from the one the call was placed with.
 */
export function vonageCallbackUrls(publicBaseUrl: string, reference: string, locale: 'ja' | 'en'): VonageCallbackUrls {
  const event = `${publicBaseUrl}${VONAGE_CALLS_CALLBACK_PATH}?ref=${encodeURIComponent(reference)}&lang=${locale}`;
  return { event, input: `${event}&step=input` };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Vonage through its official SDK (@vonage/server-sdk), pointed at VONAGE_API_BASE_URL with its `apiHost` option
 * and our timeout (`timeout`: the SDK aborts its fetch):
 * - SMS: the Messages API (POST /v1/messages, channel sms) with our outbox id as `client_ref` (Vonage echoes it in
 *   every status webhook) and a per-message `webhook_url` to our signed status callback. Basic auth with the API
 *   key and secret, or JWT with the application's private key when one is configured.
 * - code calls: the Voice API (POST /v1/calls, JWT) with an NCCO that reads the text twice, slowly.
 * - IVR check calls: the Voice API with an NCCO `talk` + one-key `input` (vonage-ncco.ts), our signed event
 *   webhook (`event_url`) and machine detection; their events and key input come back to VonageCallsController
 *   and are mapped in vonage-calls.mapping.ts.
 * Refusals are mapped in vonage.mapping.ts.
 */
export class VonageProvider implements SmsGateway, VoiceGateway {
  readonly name = 'vonage';
  private readonly logger = new Logger('VonageProvider');
  private readonly client: Vonage;

  constructor(
    private readonly config: VonageConfig,
    private readonly publicBaseUrl: string,
    private readonly timeoutMs: number,
  ) {
    // required here: an instance that routes nothing to Vonage never loads the SDK (about 13 MB)
    const sdk: typeof import('@vonage/server-sdk') = require('@vonage/server-sdk');
    this.client = new sdk.Vonage(
      { apiKey: config.apiKey, apiSecret: config.apiSecret, applicationId: config.applicationId, privateKey: config.privateKey },
      { apiHost: config.apiBaseUrl, timeout: timeoutMs },
    );
  }

  async send(sms: OutgoingSms): Promise<ProviderAccepted> {
    let id: unknown;
    try {
      const sent = await this.client.messages.send({
        channel: 'sms',
        messageType: 'text',
        to: sms.to.replace(/^\+/, ''),
        from: this.config.fromNumber.replace(/^\+/, ''),
        text: sms.body,
        clientRef: sms.reference,
        webhookUrl: `${this.publicBaseUrl}${VONAGE_STATUS_CALLBACK_PATH}`,
      } as Parameters<Vonage['messages']['send']>[0]);
      id = sent.messageUUID;
    } catch (err) {
      if (!acceptedDespite(err)) throw await vonageRefusal(err, this.timeoutMs);
    }
    return { provider: this.name, providerMessageId: this.accepted(id, sms.to, sms.reference) };
  }

  async call(call: OutgoingCall): Promise<ProviderAccepted> {
    let id: unknown;
    try {
      const placed = await this.client.voice.createOutboundCall({
        to: [{ type: 'phone', number: call.to.replace(/^\+/, '') }],
        from: { type: 'phone', number: this.config.fromNumber.replace(/^\+/, '') },
        ncco: readOutNcco(call.speech, call.locale),
      } as unknown as Parameters<Vonage['voice']['createOutboundCall']>[0]);
      id = placed.uuid;
    } catch (err) {
      if (!acceptedDespite(err)) throw await vonageRefusal(err, this.timeoutMs);
    }
    return { provider: this.name, providerMessageId: this.accepted(id, call.to, call.reference) };
  }

  async placeCheckCall(call: CheckCall): Promise<CallPlaced> {
    const urls = vonageCallbackUrls(this.publicBaseUrl, call.reference, call.locale);
    let uuid: unknown;
    try {
      const placed = await this.client.voice.createOutboundCall({
        to: [{ type: 'phone', number: call.to.replace(/^\+/, '') }],
        from: { type: 'phone', number: this.config.fromNumber.replace(/^\+/, '') },
        ncco: checkCallNcco(call.prompt, call.locale, urls.input),
        eventUrl: [urls.event],
        eventMethod: 'POST',
        ringingTimer: RINGING_TIMER_SECONDS,
        lengthTimer: LENGTH_TIMER_SECONDS,
        // An answering machine never confirms (its event marks the call a machine's): hang up on it rather than
        // leave a recorded "press 1" on the person's voicemail.
        machineDetection: 'hangup',
      } as unknown as Parameters<Vonage['voice']['createOutboundCall']>[0]);
      uuid = placed.uuid;
    } catch (err) {
      if (!acceptedDespite(err)) {
        // Vonage refuses no number at this point (a number that cannot exist comes back as a `rejected` or
        // `failed` event): a refusal is a routing failure, retryable on 5xx, 408 and 429, for the next provider.
        const refusal = await vonageRefusal(err, this.timeoutMs);
        throw new CallNotPlaced(this.name, refusal.message, 'route_error', refusal.retryable, refusal.statusCode, undefined, { unknown: refusal.unknown, retryAfterMs: refusal.retryAfterMs });
      }
    }
    if (typeof uuid !== 'string' || !UUID.test(uuid)) {
      // Vonage took the call but we cannot follow it: its events still arrive and record it under its uuid.
      this.logger.warn({ to: maskPhone(call.to), reference: call.reference }, 'Vonage accepted the call without a readable call uuid');
      throw new ProviderError(this.name, 'accepted without a call uuid', false);
    }
    return { provider: this.name, callId: uuid };
  }

  /** A 2xx is accepted: without a readable id (a malformed body) it is still sent, never again, and logged. */
  private accepted(id: unknown, to: string, reference: string): string | null {
    if (typeof id === 'string' && UUID.test(id)) return id;
    this.logger.warn({ to: maskPhone(to), reference }, 'Vonage accepted the request without a readable id: recorded as sent with no provider id');
    return null;
  }
}
