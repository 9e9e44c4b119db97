import { Logger } from '@nestjs/common';
import { Vonage } from '@vonage/server-sdk';
import { maskPhone } from '../../../common/phone';
import type { VonageConfig } from '../../../config/app-config';
import { CallNotPlaced, CallPlaced, CheckCall, OutgoingCall, OutgoingSms, ProviderAccepted, SmsGateway, VoiceGateway } from '../../ports';
import { acceptedDespite, vonageRefusal } from './vonage.mapping';
import { readOutNcco } from './vonage-ncco';

/** Where Vonage posts the status of SMS; VonageStatusController answers there. */
export const VONAGE_STATUS_CALLBACK_PATH = '/v1/callbacks/vonage/status';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Vonage through its official SDK (@vonage/server-sdk), pointed at VONAGE_API_BASE_URL with its `apiHost` option
 * and our timeout (`timeout`: the SDK aborts its fetch):
 * - SMS: the Messages API (POST /v1/messages, channel sms) with our outbox id as `client_ref` (Vonage echoes it in
 *   every status webhook) and a per-message `webhook_url` to our signed status callback. Basic auth with the API
 *   key and secret, or JWT with the application's private key when one is configured.
 * - code calls: the Voice API (POST /v1/calls, JWT) with an NCCO that reads the text twice, slowly.
 * IVR check calls are Twilio's (voice-contract screening needs its key-press callbacks): asked of Vonage, they
 * are refused as a route error. Refusals are mapped in vonage.mapping.ts.
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
    this.client = new Vonage(
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

  async placeCheckCall(_call: CheckCall): Promise<CallPlaced> {
    throw new CallNotPlaced(this.name, 'IVR check calls are placed through Twilio only', 'route_error', false);
  }

  /** A 2xx is accepted: without a readable id (a malformed body) it is still sent, never again, and logged. */
  private accepted(id: unknown, to: string, reference: string): string | null {
    if (typeof id === 'string' && UUID.test(id)) return id;
    this.logger.warn({ to: maskPhone(to), reference }, 'Vonage accepted the request without a readable id: recorded as sent with no provider id');
    return null;
  }
}
