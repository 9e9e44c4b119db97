import { Logger } from '@nestjs/common';
import { maskPhone } from '../../../common/phone';
import { newId } from '../../../common/ids';
import { DevInbox } from '../../dev-inbox';
import { CallPlaced, CheckCall, OutgoingCall, OutgoingSms, ProviderAccepted, SmsGateway, VoiceGateway } from '../../ports';

/**
 * The built-in default: sends nothing, logs that a message went out (to a masked number, never its text)
 * and, outside production, keeps it in the dev inbox so the whole flow can be tried without an account.
 */
export class ConsoleProvider implements SmsGateway, VoiceGateway {
  readonly name = 'console';
  private readonly logger = new Logger('ConsoleProvider');

  constructor(private readonly inbox: DevInbox | null) {}

  async send(sms: OutgoingSms): Promise<ProviderAccepted> {
    return this.deliver('sms', sms.to, sms.body, sms.reference, sms.clientId ?? null);
  }

  async call(call: OutgoingCall): Promise<ProviderAccepted> {
    return this.deliver('voice', call.to, call.speech, call.reference, call.clientId ?? null);
  }

  /** Logs the call (masked number, no prompt); no outcome ever arrives, as nobody answers a console call. */
  async placeCheckCall(call: CheckCall): Promise<CallPlaced> {
    const callId = newId('msg');
    this.logger.log({ to: maskPhone(call.to), reference: call.reference, callId }, 'console IVR check call "placed": no outcome will follow');
    return { provider: this.name, callId };
  }

  private deliver(channel: 'sms' | 'voice', to: string, body: string, reference: string, clientId: string | null): ProviderAccepted {
    const id = newId('msg');
    this.logger.log({ to: maskPhone(to), channel, reference, providerMessageId: id }, `console ${channel} "sent"${this.inbox ? ' (see GET /v1/dev/messages)' : ''}`);
    this.inbox?.add({ clientId, to, channel, body, reference, sentAt: new Date().toISOString() });
    return { provider: this.name, providerMessageId: id };
  }
}
