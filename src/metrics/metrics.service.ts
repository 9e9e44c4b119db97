import cluster from 'node:cluster';
import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** One registry per application instance (tests run several in one process). */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  /** Which process answered this scrape: with WORKERS > 1 each scrape reaches one worker (README, "Several workers"). */
  readonly instance = new Gauge({
    name: 'otp_instance_info',
    help: 'Always 1: the process id of the instance (or cluster worker) that answered, and its worker number (0 when not in a cluster)',
    labelNames: ['pid', 'worker'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.instance.set({ pid: String(process.pid), worker: String(cluster.worker?.id ?? 0) }, 1);
  }
}
