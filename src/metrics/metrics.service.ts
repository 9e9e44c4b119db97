import cluster from 'node:cluster';
import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { instanceInfo, scrapeCluster, workersGauge } from './cluster-metrics';

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

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // The process this scrape describes (with WORKERS > 1 the primary gathers every worker's, a series each).
    instanceInfo(this.registry, String(cluster.worker?.id ?? 0));
    if (!cluster.isWorker) {
      const workers = workersGauge(this.registry);
      for (const [state, n] of Object.entries({ answered: 1, silent: 0, starting: 0 })) workers.set({ state }, n);
    }
  }

  /** The Prometheus text of this process, or with WORKERS > 1 of every worker, labelled by worker (cluster-metrics.ts). */
  scrape(): Promise<string> {
    return cluster.isWorker ? scrapeCluster() : this.registry.metrics();
  }
}
