import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { Clock } from './clock';
import { EventBus } from './events';
import { HostResolver, WebhookDestinations } from './webhook-destinations';

/** The clock, the event bus and the webhook destination guard, one of each per application. */
@Global()
@Module({})
export class CommonModule {
  /** `clock` replaces the system clock (tests move time with it); `resolver` the system's DNS (tests name their own hosts). */
  static forRoot(clock?: Clock, resolver?: HostResolver): DynamicModule {
    return {
      module: CommonModule,
      providers: [
        clock ? { provide: Clock, useValue: clock } : Clock,
        EventBus,
        { provide: WebhookDestinations, inject: [AppConfig], useFactory: (config: AppConfig) => new WebhookDestinations(config.webhookDestinations, resolver) },
      ],
      exports: [Clock, EventBus, WebhookDestinations],
    };
  }
}
