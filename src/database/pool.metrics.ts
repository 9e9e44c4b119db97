import { Injectable } from '@nestjs/common';
import { Gauge, Metric } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { Transactions } from './transactions';

/**
 * This process's pool of database connections (an instance's, or a worker's with WORKERS), read at each scrape: busy
 * near the size with requests waiting is an instance (or a database) at its capacity, seen before its answers slow down
 * (docs/scaling.md, "Seeing it coming"). pg queues a request for a tick even when a connection is idle, so a busy
 * instance shows 1 waiting now and then; only a lasting figure means anything.
 */
@Injectable()
export class PoolMetrics {
  readonly connections: Gauge<'state'>;
  readonly waiting: Gauge;
  readonly size: Gauge;

  constructor(transactions: Transactions, config: AppConfig) {
    this.connections = new Gauge({
      name: 'otp_db_pool_connections',
      help: "This process's open database connections: busy (running a statement or a transaction) or idle",
      labelNames: ['state'] as const,
      registers: [],
      collect() {
        const counts = transactions.poolCounts();
        this.set({ state: 'busy' }, counts ? counts.total - counts.idle : 0);
        this.set({ state: 'idle' }, counts ? counts.idle : 0);
      },
    });
    this.waiting = new Gauge({
      name: 'otp_db_pool_waiting_requests',
      help: 'Requests (and background work) of this process waiting for a free database connection',
      registers: [],
      collect() {
        this.set(transactions.poolCounts()?.waiting ?? 0);
      },
    });
    this.size = new Gauge({ name: 'otp_db_pool_size', help: 'DATABASE_POOL_SIZE: the most connections this process opens', registers: [] });
    this.size.set(config.database.poolSize);
  }

  get all(): Metric[] {
    return [this.connections, this.waiting, this.size];
  }
}
