import type { LoggerService } from '@nestjs/common';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import type { DatabaseConfig } from '../config/app-config';
import { logLine } from '../common/log-line';
import { dataSourceOptions } from './data-source-options';

/** Errors a retry cannot fix: wrong credentials, a database that does not exist, a refused TLS setup. */
const PERMANENT = new Set(['28P01', '28000', '3D000', '42501']);

function describe(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) return describe(err.errors[0]);
  const e = err as { code?: string; message?: string };
  return [e.code, e.message].filter(Boolean).join(': ') || String(err);
}

/**
 * Aborted by main.ts when a signal ends the start: the database may be going away (the embedded PostgreSQL is being
 * stopped), so a failed connection is then neither retried nor logged as the database's fault.
 */
export const startupStopping = new AbortController();

/**
 * Waits for the database to accept a connection, retrying with backoff (0.25 s doubling to 5 s) for at most
 * `startupRetryMs`, so that an instance started alongside its database (compose, Kubernetes) does not fail
 * at once. Wrong credentials or a missing database fail at once: waiting would not fix them.
 */
export async function waitForDatabase(url: string, config: Pick<DatabaseConfig, 'startupRetryMs' | 'connectTimeoutMs'>): Promise<void> {
  const started = Date.now();
  const deadline = Date.now() + config.startupRetryMs;
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    try {
      await probeDatabase(url, config.connectTimeoutMs);
      if (attempt > 1) logLine('info', `database reachable after ${attempt} attempts`, { context: 'Database' });
      return;
    } catch (err) {
      const cause = describe(err);
      const code = (err as { code?: string }).code;
      if (startupStopping.signal.aborted) throw err;
      if ((code && PERMANENT.has(code)) || Date.now() + delay > deadline) {
        const waited = Math.round((Date.now() - started) / 1000);
        throw new Error(`cannot connect to the database (gave up after ${attempt} attempt(s) in ${waited} s)`, { cause: err });
      }
      // Written at once (Nest's logger still buffers at this point): an operator sees why start-up waits.
      logLine('warn', `database not reachable (${cause}): attempt ${attempt}, retrying in ${delay} ms`, { context: 'Database' });
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/** Connects to `url`, runs `SELECT 1` and disconnects; throws what failed. */
export async function probeDatabase(url: string, connectTimeoutMs: number): Promise<void> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs });
  // A server that ends the connection while it is idle (shutting down, failing over) sends a FATAL that reaches the
  // client as an 'error' event, which with no listener would end the process; connect and query report failures.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Applies pending migrations through a connection of its own, without the request timeouts: a migration may take long. */
export async function runMigrations(url: string, logger: Pick<LoggerService, 'log'>): Promise<void> {
  const ds = new DataSource(dataSourceOptions(url, 1));
  await ds.initialize();
  try {
    const applied = await ds.runMigrations({ transaction: 'each' });
    if (applied.length) logger.log(`applied ${applied.length} migration(s): ${applied.map((m) => m.name).join(', ')}`);
  } finally {
    await ds.destroy();
  }
}
