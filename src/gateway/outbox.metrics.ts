import { Injectable } from '@nestjs/common';
import { Gauge, Metric } from 'prom-client';
import { Clock } from '../common/clock';
import { DATABASE_GAUGE, sampledEvery } from '../common/sampled';
import { OutboxRepository } from './outbox.repository';
import { OUTBOX_KINDS } from './outbox.types';

/**
 * The outbox's backlog, by kind: how long its oldest row has been due and not sent (0 when none is), counting a send in
 * progress from when it became due (OVERDUE_SQL). A code message goes out as soon as its start commits and a retry is
 * claimed within OUTBOX_POLL_INTERVAL_MS of its time, so anything beyond a few seconds means slow providers, instances
 * that do not keep up, or none polling (docs/scaling.md). Webhooks also wait while their client's receiver already has
 * its share of an instance's sends, so one slow receiver shows here. The same figure in every instance (it is the
 * database's); NaN while it cannot be read within 1 s (the database down, or every connection of the pool held
 * longer). The read waits for a connection as requests do: a few index lookups.
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
      help: 'By kind (sms, voice, webhook, check_call): how long the oldest outbox row due to be sent has waited unsent past its time, a send in progress included (0: none; NaN: not read)',
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
