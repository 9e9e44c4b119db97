import { Injectable } from '@nestjs/common';

/** The one source of time. Tests replace it (see test/support/clock.ts) to move time. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
