import { DynamicModule, Global, Module } from '@nestjs/common';
import { Clock } from './clock';
import { EventBus } from './events';

/** The clock and the event bus, one of each per application. */
@Global()
@Module({})
export class CommonModule {
  /** `clock` replaces the system clock (tests move time with it). */
  static forRoot(clock?: Clock): DynamicModule {
    return { module: CommonModule, providers: [clock ? { provide: Clock, useValue: clock } : Clock, EventBus], exports: [Clock, EventBus] };
  }
}
