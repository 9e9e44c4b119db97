import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { DevInbox } from './dev-inbox';
import { DevInboxController } from './dev-inbox.controller';
import { OutboxDispatcher } from './outbox.dispatcher';
import { OutboxRepository } from './outbox.repository';
import { OutboxService } from './outbox.service';
import { OUTBOX_SENDERS, OutboxBox } from './outbox.types';
import { SMS_GATEWAY, VOICE_GATEWAY } from './ports';
import { ConsoleProvider } from './providers/console/console.provider';
import { HttpProvider } from './providers/http/http.provider';
import { TwilioCallsController } from './providers/twilio/twilio-calls.controller';
import { TwilioVoiceProvider } from './providers/twilio/twilio.provider';
import { CheckCallSender } from './senders/check-call.sender';
import { MessageSender } from './senders/message.sender';
import { WebhookSender } from './senders/webhook.sender';
import { VoiceCallsRepository } from './voice-calls.repository';
import { VoiceCallsService } from './voice-calls.service';

/**
 * Delivery: the SmsGateway / VoiceGateway ports with a provider chosen by config (SMS_PROVIDER,
 * VOICE_PROVIDER; `console` by default), and the durable outbox with one sender per kind (code messages,
 * result webhooks). Talks back up only through events (`message.failed`; `call.progressed` and `call.completed`
 * for IVR check calls, from the providers' signed callbacks, whose controllers are mounted when the vendor is configured).
 */
@Module({})
export class GatewayModule {
  static forRoot(config: AppConfig): DynamicModule {
    const g = config.gateway;
    const consoleProvider = (inbox: DevInbox) => new ConsoleProvider(g.devInboxEnabled ? inbox : null);
    // Twilio's callbacks can be verified (and the URLs given to it built) only with its token and our public address.
    const twilioCallbacks = g.twilio !== null && g.publicCallbackBaseUrl !== undefined;
    const voiceProvider = (inbox: DevInbox) => {
      if (g.voiceProvider === 'http') return new HttpProvider(g.voiceHttpUrl as string, g.httpToken, g.timeoutMs);
      if (g.voiceProvider === 'twilio' && g.twilio && g.publicCallbackBaseUrl) return new TwilioVoiceProvider(g.twilio, g.publicCallbackBaseUrl, g.timeoutMs);
      return consoleProvider(inbox);
    };
    return {
      module: GatewayModule,
      global: true,
      controllers: [...(g.devInboxEnabled ? [DevInboxController] : []), ...(twilioCallbacks ? [TwilioCallsController] : [])],
      providers: [
        DevInbox,
        { provide: OutboxBox, useFactory: () => new OutboxBox(g.sealingKeys) },
        OutboxRepository,
        OutboxService,
        OutboxDispatcher,
        MessageSender,
        WebhookSender,
        CheckCallSender,
        VoiceCallsRepository,
        VoiceCallsService,
        { provide: OUTBOX_SENDERS, inject: [MessageSender, WebhookSender, CheckCallSender], useFactory: (...senders: unknown[]) => senders },
        {
          provide: SMS_GATEWAY,
          inject: [DevInbox],
          useFactory: (inbox: DevInbox) => (g.smsProvider === 'http' ? new HttpProvider(g.smsHttpUrl as string, g.httpToken, g.timeoutMs) : consoleProvider(inbox)),
        },
        {
          provide: VOICE_GATEWAY,
          inject: [DevInbox],
          useFactory: voiceProvider,
        },
      ],
      exports: [OutboxBox, OutboxService, OutboxDispatcher, VoiceCallsService, SMS_GATEWAY, VOICE_GATEWAY],
    };
  }
}
