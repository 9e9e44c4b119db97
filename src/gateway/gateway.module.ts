import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { DevInbox } from './dev-inbox';
import { DevInboxController } from './dev-inbox.controller';
import { OutboxDispatcher } from './outbox.dispatcher';
import { OutboxService } from './outbox.service';
import { SMS_GATEWAY, VOICE_GATEWAY } from './ports';
import { ConsoleProvider } from './providers/console/console.provider';
import { HttpProvider } from './providers/http/http.provider';

/**
 * Delivery: the SmsGateway / VoiceGateway ports with a provider chosen by config (SMS_PROVIDER,
 * VOICE_PROVIDER; `console` by default), and the durable outbox that sends messages and webhooks.
 */
@Module({})
export class GatewayModule {
  static forRoot(config: AppConfig): DynamicModule {
    const g = config.gateway;
    const inboxEnabled = config.devInboxEnabled;
    const consoleProvider = (inbox: DevInbox) => new ConsoleProvider(inboxEnabled ? inbox : null);
    return {
      module: GatewayModule,
      global: true,
      controllers: inboxEnabled ? [DevInboxController] : [],
      providers: [
        DevInbox,
        OutboxService,
        OutboxDispatcher,
        {
          provide: SMS_GATEWAY,
          inject: [DevInbox],
          useFactory: (inbox: DevInbox) => (g.smsProvider === 'http' ? new HttpProvider(g.smsHttpUrl as string, g.httpToken, g.timeoutMs) : consoleProvider(inbox)),
        },
        {
          provide: VOICE_GATEWAY,
          inject: [DevInbox],
          useFactory: (inbox: DevInbox) =>
            g.voiceProvider === 'http' ? new HttpProvider(g.voiceHttpUrl as string, g.httpToken, g.timeoutMs) : consoleProvider(inbox),
        },
      ],
      exports: [OutboxService, OutboxDispatcher, SMS_GATEWAY, VOICE_GATEWAY],
    };
  }
}
