import cluster, { Worker } from 'node:cluster';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/**
 * `/metrics` with WORKERS > 1. The worker that takes the scrape asks the primary, which asks every worker that serves
 * for its registry over the cluster's IPC channel and answers with all of them, each series labelled with its
 * `worker` (the cluster's worker number). Nothing is added up here: a worker's counters reset when it is replaced
 * (a new series, under a new number), which Prometheus's rate() and increase() handle per series, where a sum across
 * workers would drop; and every alert keeps the meaning it has for one process. Sum in PromQL for the instance:
 * `sum without (worker) (...)`. A worker that does not answer within 5 s is left out of that scrape and counted in
 * `otp_metrics_workers{state="silent"}`, so that one stuck worker does not blind the instance's monitoring.
 * The primary's own series come with them, labelled `worker="primary"`: its process (memory, CPU, event loop) and
 * `otp_workers_died_total`, the workers it saw die while not stopping (each one replaced, until it gives up).
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

/** The label value of the primary's own series. */
const PRIMARY = 'primary';

/**
 * In the primary: answers the workers' scrapes with every worker's metrics and the primary's own. Call before forking.
 * Answers `died()`, to be called for each worker that dies unexpectedly (not while stopping).
 */
export function serveClusterMetrics(): { died(): void } {
  const { registry: primaryOwn, deaths } = primaryRegistry();
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
    const primary = await primaryOwn.getMetricsAsJSON();
    return combine(round.answers, primary, { answered: round.answers.length, silent: round.waiting.size + round.unanswered, starting });
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
  return { died: () => deaths.inc() };
}

/** The primary's own series: its process's default metrics, `otp_instance_info`, and the count of workers that died. */
export function primaryRegistry(): { registry: Registry; deaths: Counter } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  instanceInfo(registry, PRIMARY);
  const deaths = new Counter({
    name: 'otp_workers_died_total',
    help: 'Workers of this primary (WORKERS > 1) that exited or were killed while the service was not stopping: each one is replaced, at most 5 in a minute, then the primary stops everything (exit 70)',
    registers: [registry],
  });
  return { registry, deaths };
}

/** Every answering worker's series, labelled with its worker number, the primary's, and the count of workers per state. */
async function combine(answers: Answer[], primary: MetricJson[], workers: Record<'answered' | 'silent' | 'starting', number>): Promise<string> {
  const sources = [...answers].sort((a, b) => a.worker.id - b.worker.id).map(({ worker, metrics }) => ({ label: String(worker.id), metrics }));
  sources.push({ label: PRIMARY, metrics: primary });
  const labelled = sources.map(({ label, metrics }) =>
    metrics.map((m) =>
      Object.assign({}, m, {
        // Series of different workers never share labels, so nothing is combined: 'sum' only keeps each as it is
        // (where prom-client's own choice, 'omit' for process_start_time_seconds, would drop one).
        aggregator: 'sum' as const,
        values: m.values.map((v) => Object.assign({}, v, { labels: Object.assign({}, v.labels, { worker: label }) })),
      }),
    ),
  );
  const own = new Registry();
  const states = workersGauge(own);
  for (const [state, n] of Object.entries(workers)) states.set({ state }, n);
  return (await AggregatorRegistry.aggregate(labelled).metrics()) + (await own.metrics());
}

/** `otp_instance_info` of this process in `registry`: its pid and `worker` (the cluster's worker number, 0 outside a cluster, or "primary"). */
export function instanceInfo(registry: Registry, worker: string): void {
  new Gauge({
    name: 'otp_instance_info',
    help: 'Always 1, one series per process the scrape describes: its process id and worker number (0 when not in a cluster; with WORKERS > 1 each worker, and the primary as worker="primary")',
    labelNames: ['pid', 'worker'] as const,
    registers: [registry],
  }).set({ pid: String(process.pid), worker }, 1);
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
