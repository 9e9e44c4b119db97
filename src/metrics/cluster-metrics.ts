import cluster, { Worker } from 'node:cluster';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';

/**
 * `/metrics` with WORKERS > 1. The worker that takes the scrape asks the primary, which asks every worker that serves
 * for its registry over the cluster's IPC channel and answers with all of them, each series labelled with its
 * `worker` (the cluster's worker number). Nothing is added up here: a worker's counters reset when it is replaced
 * (a new series, under a new number), which Prometheus's rate() and increase() handle per series, where a sum across
 * workers would drop; and every alert keeps the meaning it has for one process. Sum in PromQL for the instance:
 * `sum without (worker) (...)`. A worker that does not answer within 5 s is left out of that scrape and counted in
 * `otp_metrics_workers{state="silent"}`, so that one stuck worker does not blind the instance's monitoring.
 */
const SCRAPE = 'otp:metrics-scrape';
const SCRAPED = 'otp:metrics-scraped';
const GATHER = 'otp:metrics-gather';
const GATHERED = 'otp:metrics-gathered';
const READY = 'otp:metrics-ready';

/** How long the primary waits for a worker's metrics. */
const GATHER_WAIT_MS = 5000;
/** How long the worker that took the scrape waits for the primary. */
const SCRAPE_WAIT_MS = GATHER_WAIT_MS + 1000;

type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];
type Message = { type?: string; id?: number; text?: string; error?: string; metrics?: MetricJson[] };
type Answer = { worker: Worker; metrics: MetricJson[] };

/** A send over a channel that closed meanwhile fails quietly: the other side is gone, and its wait ends by itself. */
const ignore = () => undefined;

/** One gathering: the workers asked that have not answered yet, and the answers so far. */
class Round {
  readonly answers: Answer[] = [];
  /** Workers that answered that they could not collect their metrics. */
  unanswered = 0;
  readonly over: Promise<void>;
  end!: () => void;

  constructor(readonly waiting: Set<Worker>) {
    this.over = new Promise<void>((resolve) => (this.end = resolve));
    if (waiting.size === 0) this.end();
  }

  answered(worker: Worker, metrics: MetricJson[]): void {
    if (!this.waiting.delete(worker)) return; // late, after the round gave up on it
    this.answers.push({ worker, metrics });
    if (this.waiting.size === 0) this.end();
  }

  gone(worker: Worker): void {
    if (this.waiting.delete(worker) && this.waiting.size === 0) this.end();
  }

  failed(worker: Worker): void {
    if (!this.waiting.has(worker)) return;
    this.unanswered++;
    this.gone(worker);
  }
}

// ---- the primary ----

/** In the primary: answers the workers' scrapes with every worker's metrics. Call before forking. */
export function serveClusterMetrics(): void {
  const ready = new Set<Worker>();
  const rounds = new Map<number, Round>();
  let nextRound = 0;
  let gathering: Promise<string> | undefined;

  const gather = async (): Promise<string> => {
    const id = nextRound++;
    const asked = [...ready].filter((w) => w.isConnected());
    const round = new Round(new Set(asked));
    rounds.set(id, round);
    for (const w of asked) w.send({ type: GATHER, id }, undefined, ignore);
    const timer = setTimeout(() => round.end(), GATHER_WAIT_MS);
    await round.over;
    clearTimeout(timer);
    rounds.delete(id);
    const starting = Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected() && !ready.has(w)).length;
    return combine(round.answers, { answered: round.answers.length, silent: round.waiting.size + round.unanswered, starting });
  };

  const forget = (worker: Worker) => {
    ready.delete(worker);
    for (const round of rounds.values()) round.gone(worker);
  };
  cluster.on('exit', forget);
  cluster.on('disconnect', forget);
  cluster.on('message', (worker: Worker, message: Message) => {
    if (message?.type === READY) ready.add(worker);
    else if (message?.type === GATHERED) {
      const round = rounds.get(message.id ?? -1);
      // a worker whose metrics could not be collected counts as silent
      if (message.error === undefined) round?.answered(worker, message.metrics ?? []);
      else round?.failed(worker);
    } else if (message?.type === SCRAPE) {
      const answer = (rest: Message) => worker.isConnected() && worker.send({ type: SCRAPED, id: message.id, ...rest }, undefined, ignore);
      // Concurrent scrapes share one gathering.
      gathering ??= gather().finally(() => (gathering = undefined));
      gathering.then(
        (text) => answer({ text }),
        (err: unknown) => answer({ error: String(err) }),
      );
    }
  });
}

/** Every answering worker's series, labelled with its worker number, and the count of workers per state. */
async function combine(answers: Answer[], workers: Record<'answered' | 'silent' | 'starting', number>): Promise<string> {
  const labelled = [...answers].sort((a, b) => a.worker.id - b.worker.id).map(({ worker, metrics }) =>
    metrics.map((m) =>
      Object.assign({}, m, {
        // Series of different workers never share labels, so nothing is combined: 'sum' only keeps each as it is
        // (where prom-client's own choice, 'omit' for process_start_time_seconds, would drop one).
        aggregator: 'sum' as const,
        values: m.values.map((v) => Object.assign({}, v, { labels: Object.assign({}, v.labels, { worker: String(worker.id) }) })),
      }),
    ),
  );
  const own = new Registry();
  const states = workersGauge(own);
  for (const [state, n] of Object.entries(workers)) states.set({ state }, n);
  return (await AggregatorRegistry.aggregate(labelled).metrics()) + (await own.metrics());
}

/** The processes of a scrape by state; a single process (WORKERS=1) is always the one answered. */
export function workersGauge(registry: Registry): Gauge<'state'> {
  return new Gauge({
    name: 'otp_metrics_workers',
    help: 'The processes this scrape holds: answered (their series are here); with WORKERS > 1 also silent (a worker serving, whose metrics did not come within 5 s: blocked or stopped, or failed) and starting (not serving yet)',
    labelNames: ['state'] as const,
    registers: [registry],
  });
}

// ---- a worker ----

let registry: Registry | undefined;
let nextScrape = 0;
const scrapes = new Map<number, (answer: Message) => void>();

/**
 * In a worker, as soon as it starts: answers the primary's requests for this worker's metrics, and the primary's
 * answers to this worker's scrapes (one listener for all of them).
 */
export function answerClusterMetrics(): void {
  process.on('message', (message: Message) => {
    if (message?.type === GATHER) {
      void (registry ? registry.getMetricsAsJSON() : Promise.resolve([])).then(
        (metrics) => tellPrimary({ type: GATHERED, id: message.id, metrics }),
        (err: unknown) => tellPrimary({ type: GATHERED, id: message.id, error: String(err) }),
      );
    } else if (message?.type === SCRAPED) {
      scrapes.get(message.id ?? -1)?.(message);
    }
  });
}

/** In a worker, once its app serves: the registry the primary gathers from now on (the app's; one app per worker process). */
export function contributeToCluster(app: Registry): void {
  registry = app;
  tellPrimary({ type: READY });
}

function tellPrimary(message: Message): boolean {
  if (!process.send || !process.connected) return false;
  process.send(message, undefined, undefined, ignore);
  return true;
}

/** In a worker: the metrics of every worker, asked of the primary. Rejects when the primary does not answer in time. */
export function scrapeCluster(): Promise<string> {
  const id = nextScrape++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => settle({ error: `the primary did not answer within ${SCRAPE_WAIT_MS / 1000} s` }), SCRAPE_WAIT_MS);
    const settle = (answer: Message) => {
      clearTimeout(timer);
      scrapes.delete(id);
      if (typeof answer.text === 'string') resolve(answer.text);
      else reject(new Error(answer.error ?? 'no answer'));
    };
    scrapes.set(id, settle);
    if (!tellPrimary({ type: SCRAPE, id })) settle({ error: 'the primary cannot be reached' });
  });
}
