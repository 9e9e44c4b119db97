import cluster from 'node:cluster';
import { AggregatorRegistry, Registry } from 'prom-client';

/**
 * `/metrics` with WORKERS > 1: the worker that takes the scrape asks the primary, which gathers every worker's
 * registry (prom-client's AggregatorRegistry, over the cluster's IPC channel) and answers with them combined, so a
 * scrape describes the whole instance whichever worker it reached. Counters and histograms are summed; a metric
 * declares another way with prom-client's `aggregator` option (`max` for the database's gauges and for states).
 */
const SCRAPE = 'otp:metrics-scrape';
const SCRAPED = 'otp:metrics-scraped';

/** prom-client's primary gives up on a worker after 5 s; the asking worker waits a little longer than that. */
const WORKER_WAIT_MS = 6000;

interface ScrapeRequest {
  type: typeof SCRAPE;
  id: number;
}
interface ScrapeAnswer {
  type: typeof SCRAPED;
  id: number;
  text?: string;
  error?: string;
}

/** In the primary: answers the workers' scrapes with every worker's metrics combined. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: Partial<ScrapeRequest>) => {
    if (message?.type !== SCRAPE) return;
    const answer = (rest: Pick<ScrapeAnswer, 'text' | 'error'>) => {
      if (worker.isConnected()) worker.send({ type: SCRAPED, id: message.id, ...rest } satisfies Partial<ScrapeAnswer>);
    };
    aggregator.clusterMetrics().then(
      (text) => answer({ text }),
      // prom-client's only failure is its 5-s wait for a worker that does not answer (busy, stopped, or just died)
      (err: unknown) => answer({ error: err instanceof Error && err.message === 'Operation timed out.' ? 'a worker did not answer within 5 s' : String(err) }),
    );
  });
}

/**
 * In a worker, as soon as it starts: answer the primary's requests for this worker's metrics (prom-client listens
 * once an AggregatorRegistry exists). Until the app has set its registry, a starting worker answers with none.
 */
export function answerClusterMetrics(): void {
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([]);
}

/** In a worker: the registry the primary gathers (the app's; one app per worker process). */
export function contributeToCluster(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
}

let nextId = 0;

/** In a worker: every worker's metrics combined, asked of the primary. Rejects when a worker did not answer in time. */
export function scrapeCluster(): Promise<string> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const onMessage = (message: Partial<ScrapeAnswer>) => {
      if (message?.type !== SCRAPED || message.id !== id) return;
      settle();
      if (typeof message.text === 'string') resolve(message.text);
      else reject(new Error(message.error ?? 'no answer'));
    };
    const timer = setTimeout(() => {
      settle();
      reject(new Error(`the primary did not answer within ${WORKER_WAIT_MS / 1000} s`));
    }, WORKER_WAIT_MS);
    const settle = () => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    if (!process.send || !process.connected) {
      settle();
      reject(new Error('the primary cannot be reached'));
      return;
    }
    process.on('message', onMessage);
    process.send({ type: SCRAPE, id } satisfies ScrapeRequest);
  });
}
