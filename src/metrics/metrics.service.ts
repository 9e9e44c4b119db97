import cluster from 'node:cluster';
import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { contributeToCluster, scrapeCluster } from './cluster-metrics';

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

  /** The processes a scrape describes: this one, or with WORKERS > 1 every worker of the cluster (a series each). */
  readonly instance = new Gauge({
    name: 'otp_instance_info',
    help: 'Always 1, one series per process the scrape describes (every worker with WORKERS > 1): its process id and worker number (0 when not in a cluster)',
    labelNames: ['pid', 'worker'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.instance.set({ pid: String(process.pid), worker: String(cluster.worker?.id ?? 0) }, 1);
    // Combined over workers, the event loop's lag is the worst worker's (prom-client averages it), so that an
    // alert on it sees one saturated worker.
    for (const metric of this.registry.getMetricsAsArray()) {
      if (metric.name.startsWith('nodejs_eventloop_lag_') && metric.aggregator === 'average') metric.aggregator = 'max';
    }
    if (cluster.isWorker) contributeToCluster(this.registry);
  }

  /** The Prometheus text of this process, or with WORKERS > 1 of every worker combined (cluster-metrics.ts). */
  scrape(): Promise<string> {
    return cluster.isWorker ? scrapeCluster() : this.registry.metrics();
  }
}
