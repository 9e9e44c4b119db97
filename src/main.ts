import 'reflect-metadata';
import cluster, { Worker } from 'node:cluster';
import { applyHeapSettings, describeError, logLine, missingLaunchFlags, resolveDatabase } from './bootstrap';
import { AppConfig, ConfigError } from './config/app-config';
import type { EmbeddedDatabase } from './database/embedded-postgres';
import { runMigrations, startupStopping, waitForDatabase } from './database/startup';
import { answerClusterMetrics, contributeToCluster, serveClusterMetrics } from './metrics/cluster-metrics';

/** A worker that crashes is replaced, but at most this many times in RESTART_WINDOW_MS: past that the primary gives up. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

/**
 * Aborted once a signal ends the start (stopWhileStarting): a start-up step failing after it is that, not a failure to
 * report (and the first connection is not retried: database/startup.ts).
 */
const stoppingWhileStarting = startupStopping.signal;

/**
 * Until the process's own shutdown handlers are in place, a SIGTERM or SIGINT ends the start: once the database is
 * resolved, the embedded PostgreSQL this process started (if it did) is stopped, then the process exits 0. Node's
 * default, dying at once, would leave that PostgreSQL running, and the next start would reuse it as another
 * process's and never stop it. The handlers are in place before `resolve` starts the database: one added while the
 * embedded PostgreSQL's package loads would be taken off with that package's own (importWithoutSignalHandlers).
 * Answers the database (never, once a signal came), and what hands the signals over to the shutdown handlers.
 */
function stopWhileStarting<T extends { embedded?: EmbeddedDatabase }>(resolve: () => Promise<T>): { database: Promise<T>; handOver: () => void } {
  const onSignal = (signal: NodeJS.Signals) => {
    if (stoppingWhileStarting.aborted) return;
    startupStopping.abort();
    logLine('info', `${signal} received while starting: stopping`);
    void database
      .then(({ embedded }) => embedded?.stop(), () => undefined)
      .then(
        () => {
          logLine('info', 'shutdown complete');
          process.exit(0);
        },
        (err: unknown) => {
          logLine('error', `stopping the embedded PostgreSQL failed: ${describeError(err)}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const database = resolve();
  const handOver = () => {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  };
  // After a signal the start goes no further (the handler exits once the PostgreSQL is stopped); a later one finds
  // the start past this point, and the first connection is then not retried (startupStopping)
  const proceed = database.then((resolved) => (stoppingWhileStarting.aborted ? new Promise<never>(() => undefined) : resolved));
  return { database: proceed, handOver };
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = AppConfig.fromEnv(process.env);
    const refused = config.startupProblems();
    if (refused.length) throw new ConfigError(refused);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee the "Configuration" table in README.md.\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  applyHeapSettings(config.http);
  if (cluster.isPrimary && config.http.workers > 1) return runPrimary(config);
  if (cluster.isPrimary) warnAtStartup(config);
  // A worker's part of /metrics with WORKERS > 1 (metrics/cluster-metrics.ts): answering the primary's gatherings.
  if (cluster.isWorker) answerClusterMetrics();
  await runInstance(config);
}

/** What an operator should fix at start-up: development keys, node started without the service's launch flags. */
function warnAtStartup(config: AppConfig): void {
  const missing = missingLaunchFlags();
  if (missing.length) {
    logLine('warn', `node was started without ${missing.join(' ')}: launch it as npm start and the image do (README, "Operations", Launching)`);
  }
  if (config.issuance.usesDevelopmentHmacKey) logLine('warn', 'OTP_HMAC_KEYS is not set: using the built-in development key (never valid in production)');
  if (config.audit.usesDevelopmentPhoneHashKey) {
    logLine('warn', 'AUDIT_PHONE_HASH_KEY is not set: using the built-in development key (never valid in production)');
  }
  if (config.http.trustProxy === true) {
    logLine('warn', 'TRUST_PROXY=true believes every X-Forwarded-For entry: a client can choose the address its limits and the audit trail see. List the load balancers\' addresses instead (TRUST_PROXY=10.0.0.0/8)');
  }
}

/** The service in this process: the whole of it (WORKERS=1), or one worker of the cluster behind the shared port. */
async function runInstance(config: AppConfig): Promise<void> {
  const { database, handOver } = stopWhileStarting(() => resolveDatabase(config));
  const { config: resolved, embedded } = await database;
  // An instance whose embedded database went away (stopped by the instance that owns it, or died) exits, so
  // that a supervisor restarts it (starting a new one), instead of staying live but never ready.
  embedded?.watch(() => {
    logLine('error', `the embedded PostgreSQL on port ${resolved.database.embeddedPort} ${embedded.owned ? 'stopped unexpectedly' : 'that this instance shared was stopped by the process that started it'}; exiting`);
    process.exit(70); // EX_SOFTWARE
  });
  // Loaded here, not at the top: a cluster's primary runs no app and need not hold its modules (NestJS, Fastify, the
  // routes, Swagger) in memory.
  const { createApp } = require('./app.factory') as typeof import('./app.factory');
  const { MetricsService } = require('./metrics/metrics.service') as typeof import('./metrics/metrics.service');
  let app;
  try {
    app = await createApp({ config: resolved });
    await app.listen({ port: resolved.http.port, host: resolved.http.host });
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  logLine('info', `listening on http://${resolved.http.host}:${resolved.http.port} (docs at /docs)`, cluster.isWorker ? { pid: process.pid, worker: cluster.worker?.id } : {});
  if (cluster.isWorker) contributeToCluster(app.get(MetricsService).registry);

  // Graceful shutdown: stop accepting, let in-flight requests finish, close the pool, then the embedded database.
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logLine('info', `${signal} received, shutting down`);
    const force = setTimeout(() => {
      logLine('error', 'shutdown timed out, exiting');
      process.exit(1);
    }, resolved.http.shutdownTimeoutMs);
    force.unref();
    try {
      await app.close();
      await embedded?.stop();
      logLine('info', 'shutdown complete');
      process.exit(0);
    } catch (err) {
      logLine('error', `shutdown failed: ${String(err)}`);
      process.exit(1);
    }
  };
  handOver();
  if (cluster.isWorker) {
    // The primary forwards SIGTERM, and a terminal's Ctrl+C reaches every process of the group: a second signal
    // must not kill a worker that is already draining. A worker whose primary died exits too.
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
    process.once('disconnect', () => void shutdown('primary gone'));
  } else {
    // `on`, not `once`: a second signal (npm forwarding a terminal's Ctrl+C, an operator killing twice) must not
    // fall back to the default action and kill the process while it drains.
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
  }
}

/**
 * WORKERS > 1: this process is the primary of a node:cluster. It starts the embedded PostgreSQL once (when no
 * DATABASE_URL is set) and applies the migrations once, then forks the workers with the database's URL; each
 * worker runs the whole app (which the primary never loads: only runInstance requires it), and the listening socket
 * is shared (the primary hands connections round-robin).
 * A scrape of /metrics, whichever worker takes it, answers every worker's metrics, labelled by worker (metrics/cluster-metrics.ts).
 * A worker that dies is replaced (at most MAX_RESTARTS in a minute, then everything stops, exit 70). SIGTERM
 * or SIGINT is passed to every worker, which drains as a single instance does; the primary exits 0 once all
 * of them exited 0 (1 if one did not, or if they outlast SHUTDOWN_TIMEOUT_MS).
 */
async function runPrimary(config: AppConfig): Promise<void> {
  warnAtStartup(config);
  const { database, handOver } = stopWhileStarting(() => resolveDatabase(config));
  const { config: resolved, embedded } = await database;
  const url = resolved.database.url as string;
  try {
    if (resolved.database.runMigrations) {
      await waitForDatabase(url, resolved.database);
      // the primary loads no NestJS (not even its Logger): its lines are logLine's JSON, as the app's start-up ones are
      await runMigrations(url, { log: (message: string) => logLine('info', message, { context: 'Database' }) });
    }
  } catch (err) {
    await embedded?.stop();
    throw err;
  }

  let closing = false;
  let failed = false;
  const restarts: number[] = [];
  const workerEnv = { DATABASE_URL: url, MIGRATIONS_RUN: 'false' };
  const live = new Set<Worker>();
  const fork = () => {
    const worker = cluster.fork(workerEnv);
    live.add(worker);
    return worker;
  };

  const stopAll = async (code: number, why: string) => {
    if (closing) return;
    closing = true;
    logLine(code === 0 ? 'info' : 'error', why);
    failed ||= code !== 0;
    const force = setTimeout(() => {
      logLine('error', 'workers did not stop in time, killing them');
      for (const w of live) w.process.kill('SIGKILL');
    }, resolved.http.shutdownTimeoutMs + 2000);
    force.unref();
    for (const w of live) w.process.kill('SIGTERM');
    await new Promise<void>((done) => (live.size === 0 ? done() : cluster.on('exit', () => live.size === 0 && done())));
    clearTimeout(force);
    await embedded?.stop().catch((err: unknown) => logLine('error', `stopping the embedded PostgreSQL failed: ${describeError(err)}`));
    logLine('info', failed ? 'shutdown finished with errors' : 'shutdown complete');
    process.exit(failed ? (code === 0 ? 1 : code) : 0);
  };

  handOver();
  process.on('SIGTERM', () => void stopAll(0, 'SIGTERM received, stopping the workers'));
  process.on('SIGINT', () => void stopAll(0, 'SIGINT received, stopping the workers'));

  // The first worker starts alone (it creates the dev client on a fresh database, and a start-up failure such
  // as a port in use shows once, as a failed start, not as a crash loop); the others follow once it listens.
  const metrics = serveClusterMetrics();
  let started = false;
  // Registered before the first fork: on a signal while the first worker starts, stopAll waits for `live` to empty.
  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker);
    if (closing) {
      // Killed by our SIGTERM (or a terminal's SIGINT, which reaches the whole process group) with no handler yet
      // means it was still starting: it held no work to lose.
      if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGINT') failed = true;
      return;
    }
    if (!started) return; // the first worker's failed start: told below, once
    metrics.died();
    const now = Date.now();
    restarts.push(now);
    while (restarts.length && restarts[0] < now - RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length > MAX_RESTARTS) {
      void stopAll(70, `workers keep dying (${restarts.length} in ${RESTART_WINDOW_MS / 1000} s; the last: pid ${worker.process.pid}, ${signal ?? `exit ${code}`}): stopping`);
      return;
    }
    logLine('error', `worker pid ${worker.process.pid} died (${signal ?? `exit ${code}`}): starting another`);
    fork();
  });
  // Structured clone over IPC, not JSON: a gauge's NaN ("not read") and ±Inf reach the primary as they are (JSON made them null, rendered 0).
  cluster.setupPrimary({ serialization: 'advanced' });
  const first = fork();
  const firstCode = await new Promise<number | null>((done) => {
    first.once('listening', () => done(null));
    first.once('exit', (code) => done(code ?? 1));
  });
  if (closing) return; // a signal came during start-up: stopAll finishes
  if (firstCode !== null) {
    closing = true; // a signal from here on finds the shutdown under way
    await embedded?.stop();
    logLine('error', `the first worker failed to start (exit ${firstCode})`);
    process.exit(firstCode || 1);
  }
  started = true;

  embedded?.watch(() => void stopAll(70, `the embedded PostgreSQL on port ${resolved.database.embeddedPort} stopped unexpectedly; stopping the workers`));

  for (let i = 1; i < resolved.http.workers; i++) fork();
  logLine('info', `primary pid ${process.pid} started ${resolved.http.workers} workers on port ${resolved.http.port}`);
}

main().catch((err) => {
  if (stoppingWhileStarting.aborted) return; // a step cut short by the signal's stop: its handler exits
  logLine('error', `failed to start: ${describeError(err)}`, { stack: err instanceof Error ? err.stack : undefined });
  process.exit(1);
});
