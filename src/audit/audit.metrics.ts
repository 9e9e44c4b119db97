import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Gauge, Metric } from 'prom-client';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock';
import { DATABASE_GAUGE, sampledEvery } from '../common/sampled';

/** The oldest event past the chain head: the first entry after it in the unique index on seq, however long the backlog. */
export const OLDEST_UNCHAINED_SQL = `SELECT e.occurred_at FROM audit_events e WHERE e.seq > (SELECT seq FROM audit_chain_head WHERE id = 1) ORDER BY e.seq LIMIT 1`;

/**
 * How far the chain is behind the trail: the age of the oldest committed event the sequencer has not linked yet
 * (0 when every event is chained). Writers never wait for the chain, so a sequencer that cannot keep up shows here
 * first (docs/scaling.md, "Seeing it coming"); the integrity check leaves such events out until they are chained.
 * The same figure in every instance (it is the database's); NaN while it cannot be read within 1 s (the database down,
 * or every connection of the pool held longer). The read waits for a connection as requests do: one index lookup.
 */
@Injectable()
export class AuditMetrics {
  readonly chainLag: Gauge;

  constructor(@InjectDataSource() db: DataSource, clock: Clock) {
    const read = sampledEvery(
      DATABASE_GAUGE,
      () => clock.now().getTime(),
      async () => {
        const now = clock.now().getTime();
        const [oldest]: Array<{ occurred_at: Date }> = await db.query(OLDEST_UNCHAINED_SQL);
        return oldest ? Math.max(0, now - oldest.occurred_at.getTime()) / 1000 : 0;
      },
      () => NaN,
    );
    this.chainLag = new Gauge({
      name: 'otp_audit_chain_lag_seconds',
      help: 'Age of the oldest audit event not yet linked into the hash chain (0: all chained; NaN: not read)',
      registers: [],
      async collect() {
        this.set(await read());
      },
    });
  }

  get all(): Metric[] {
    return [this.chainLag];
  }
}
