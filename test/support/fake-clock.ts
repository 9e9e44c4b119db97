import { Clock } from '../../src/common/clock';

/** A clock the test moves by hand. */
export class FakeClock extends Clock {
  private t: number;
  constructor(start = Date.parse('2026-11-24T12:00:00.000Z')) {
    super();
    this.t = start;
  }
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(date: Date | string): void {
    this.t = new Date(date).getTime();
  }
}
