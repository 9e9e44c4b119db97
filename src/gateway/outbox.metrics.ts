import { Injectable } from '@nestjs/common';
import { Gauge, Metric } from 'prom-client';
import { Clock } from '../common/clock';
import { DATABASE_GAUGE, sampledEvery } from '../common/sampled';
import { OutboxRepository } from './outbox.repository';
import { OUTBOX_KINDS } from './outbox.types';

/**
 * The outbox's backlog, by kind: how long its oldest row has been due and not sent (0 when none is). Code messages
 * go out at once after their start commits and retries are claimed by the pollers every OUTBOX_POLL_INTERVAL_MS, so
 * anything beyond a few seconds means the instances do not keep up, or none polls (docs/scaling.md). The same
 * figure in every instance (it is the database's); NaN while the database cannot be read.
 */
@Injectable()
export class OutboxMetrics {
  readonly overdue: Gauge<'kind'>;

  constructor(repo: OutboxRepository, clock: Clock) {
    const read = sampledEvery(
      DATABASE_GAUGE,
      () => clock.now().getTime(),
      async () => {
        const now = clock.now();
        const rows = await repo.overdueSince(now);
        return new Map(rows.map((r) => [r.kind, r.since ? Math.max(0, now.getTime() - r.since.getTime()) / 1000 : 0]));
      },
      () => new Map(OUTBOX_KINDS.map((kind) => [kind, NaN])),
    );
    this.overdue = new Gauge({
      name: 'otp_outbox_overdue_seconds',
      help: 'By kind (sms, voice, webhook, check_call): how long the oldest outbox row due to be sent has waited past its time (0: none; NaN: the database could not be read)',
      labelNames: ['kind'] as const,
      registers: [],
      async collect() {
        for (const [kind, seconds] of await read()) this.set({ kind }, seconds);
      },
    });
  }

  get all(): Metric[] {
    return [this.overdue];
  }
}
