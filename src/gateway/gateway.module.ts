import { DynamicModule, Module, Type } from '@nestjs/common';
import { AppConfig, GatewayConfig, ProviderName } from '../config/app-config';
import { DeliveryReceipts } from './delivery-receipts.service';
import { DevInbox } from './dev-inbox';
import { DevInboxController } from './dev-inbox.controller';
import { GatewayMetrics } from './gateway.metrics';
import { OutboxDispatcher } from './outbox.dispatcher';
import { OutboxMetrics } from './outbox.metrics';
import { OutboxRepository } from './outbox.repository';
import { GatewayHousekeeping } from './gateway-housekeeping';
import { OutboxService } from './outbox.service';
import { OUTBOX_SENDERS, OutboxBox } from './outbox.types';
import { SMS_GATEWAY, SmsGateway, VOICE_GATEWAY, VoiceGateway } from './ports';
import { ConsoleProvider } from './providers/console/console.provider';
import { AwsSmsProvider } from './providers/aws/aws.provider';
import { HttpStatusController } from './providers/http/http-status.controller';
import { HttpProvider } from './providers/http/http.provider';
import { TwilioCallsController } from './providers/twilio/twilio-calls.controller';
import { CheckCallSender } from './senders/check-call.sender';
import { TwilioStatusController } from './providers/twilio/twilio-status.controller';
import { TwilioProvider } from './providers/twilio/twilio.provider';
import { VonageCallsController } from './providers/vonage/vonage-calls.controller';
import { VonageStatusController } from './providers/vonage/vonage-status.controller';
import { VonageProvider } from './providers/vonage/vonage.provider';
import { Channel, ProviderRouter } from './routing/provider-router';
import { RoutedSmsGateway, RoutedVoiceGateway } from './routing/routed-gateways';
import { PostgresSendRateLimiter } from './routing/send-rate-limiter';
import { SendRateRepository } from './routing/send-rate.repository';
import { MessageSender } from './senders/message.sender';
import { WebhookSender } from './senders/webhook.sender';
import { VoiceCallsRepository } from './voice-calls.repository';
import { VoiceCallsService } from './voice-calls.service';

/** The vendor clients of the routed providers, one instance each (a vendor serves both channels from one client). */
class ProviderSet {
  private readonly built = new Map<string, SmsGateway & VoiceGateway>();

  constructor(
    private readonly g: GatewayConfig,
    private readonly inbox: DevInbox,
  ) {}

  /** The providers a channel routes to, by name (fromEnv has checked each one's settings). */
  forChannel(channel: Channel): Map<string, SmsGateway & VoiceGateway> {
    const table = this.g.routing[channel];
    const names = new Set([...table.providers, ...Object.values(table.byCallingCode).flat()]);
    return new Map([...names].map((name) => [name, this.get(name, channel)]));
  }

  private get(name: ProviderName, channel: Channel): SmsGateway & VoiceGateway {
    // The http provider has one URL per channel; the others serve both channels from one client.
    const key = name === 'http' ? `http.${channel}` : name;
    let provider = this.built.get(key);
    if (!provider) {
      provider = this.build(name, channel);
      this.built.set(key, provider);
    }
    return provider;
  }

  private build(name: ProviderName, channel: Channel): SmsGateway & VoiceGateway {
    const g = this.g;
    switch (name) {
      case 'console':
        return new ConsoleProvider(g.devInboxEnabled ? this.inbox : null);
      case 'http':
        return new HttpProvider((channel === 'sms' ? g.http.smsUrl : g.http.voiceUrl) as string, g.http, g.timeoutMs);
      case 'twilio':
        return new TwilioProvider(g.twilio!, g.publicCallbackBaseUrl as string, g.timeoutMs);
      case 'vonage':
        return new VonageProvider(g.vonage!, g.publicCallbackBaseUrl as string, g.timeoutMs);
      case 'aws':
        return new AwsSmsProvider(g.aws!, g.timeoutMs);
    }
  }
}

/**
 * Delivery: the SmsGateway / VoiceGateway ports, each a router over the providers the config lists for its
 * channel (SMS_PROVIDER, VOICE_PROVIDER, with SMS_ROUTES / VOICE_ROUTES per country calling code; `console` by
 * default) with failover, circuit breakers, timeouts, a budget per send and shared send rates (routing/); the
 * durable outbox with one sender per kind (code messages, result webhooks); delivery receipts. Talks back up
 * only through events (`message.failed`, `message.status`; `call.progressed` and `call.completed` for IVR check
 * calls), from the providers' signed callbacks, whose controllers are mounted when the vendor is configured.
 */
@Module({})
export class GatewayModule {
  static forRoot(config: AppConfig): DynamicModule {
    const g = config.gateway;
    const routed = new Set([...['sms', 'voice'].flatMap((c) => [...g.routing[c as Channel].providers, ...Object.values(g.routing[c as Channel].byCallingCode).flat()])]);
    // A vendor's callbacks can be verified (and the URLs given to it built) only with its secret and our public address.
    const twilioCallbacks = g.twilio !== null && g.publicCallbackBaseUrl !== undefined;
    const controllers: Type[] = [
      ...(g.devInboxEnabled ? [DevInboxController] : []),
      ...(twilioCallbacks ? [TwilioCallsController] : []),
      ...(twilioCallbacks && routed.has('twilio') ? [TwilioStatusController] : []),
      ...(g.vonage !== null && g.publicCallbackBaseUrl !== undefined ? [VonageStatusController, VonageCallsController] : []),
      ...(g.http.receipts !== null ? [HttpStatusController] : []),
    ];
    const router = (channel: Channel, providers: ProviderSet, repo: SendRateRepository, metrics: GatewayMetrics) =>
      new ProviderRouter<SmsGateway & VoiceGateway>(
        channel,
        providers.forChannel(channel),
        g.routing[channel],
        { timeoutMs: g.timeoutMs, budgetMs: g.routing.budgetMs, onTimeout: g.routing.onTimeout, circuit: g.routing.circuit },
        new PostgresSendRateLimiter(repo, g.routing.rateLimits),
        metrics,
      );
    return {
      module: GatewayModule,
      global: true,
      controllers,
      providers: [
        DevInbox,
        GatewayMetrics,
        { provide: OutboxBox, useFactory: () => new OutboxBox(g.sealingKeys) },
        OutboxRepository,
        OutboxMetrics,
        GatewayHousekeeping,
        OutboxService,
        OutboxDispatcher,
        MessageSender,
        WebhookSender,
        CheckCallSender,
        VoiceCallsRepository,
        VoiceCallsService,
        DeliveryReceipts,
        SendRateRepository,
        { provide: ProviderSet, inject: [DevInbox], useFactory: (inbox: DevInbox) => new ProviderSet(g, inbox) },
        { provide: OUTBOX_SENDERS, inject: [MessageSender, WebhookSender, CheckCallSender], useFactory: (...senders: unknown[]) => senders },
        {
          provide: SMS_GATEWAY,
          inject: [ProviderSet, SendRateRepository, GatewayMetrics],
          useFactory: (providers: ProviderSet, repo: SendRateRepository, metrics: GatewayMetrics) => new RoutedSmsGateway(router('sms', providers, repo, metrics)),
        },
        {
          provide: VOICE_GATEWAY,
          inject: [ProviderSet, SendRateRepository, GatewayMetrics],
          useFactory: (providers: ProviderSet, repo: SendRateRepository, metrics: GatewayMetrics) => new RoutedVoiceGateway(router('voice', providers, repo, metrics)),
        },
      ],
      exports: [OutboxBox, OutboxService, OutboxDispatcher, VoiceCallsService, GatewayMetrics, SMS_GATEWAY, VOICE_GATEWAY],
    };
  }
}
