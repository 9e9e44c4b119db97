import type { LoggerService } from '@nestjs/common';
import { setFlagsFromString } from 'node:v8';
import { logLine } from './common/log-line';
import { AppConfig } from './config/app-config';
import { EmbeddedDatabase, startEmbeddedPostgres } from './database/embedded-postgres';

export { logLine };

/**
 * V8's heap settings, set at start-up before the load (V8 reads both flags at each collection):
 * - HEAP_GROWTH_PERCENT caps how far the heap grows past what the last full collection kept; without it a busy
 *   instance's heap grows to twice or more of what it uses. 0 leaves V8's own heuristics.
 * - HEAP_PRETENURING=false (the default) stops V8 from allocating straight into the old heap from the allocation
 *   sites it saw survive, which under steady load filled the old heap with requests' short-lived objects.
 */
export function applyHeapSettings(http: { heapGrowthPercent: number; heapPretenuring: boolean }, setFlags: (flags: string) => void = setFlagsFromString): void {
  if (http.heapGrowthPercent > 0) setFlags(`--heap-growing-percent=${http.heapGrowthPercent}`);
  if (!http.heapPretenuring) setFlags('--no-allocation-site-pretenuring');
}

/**
 * Node flags the service is launched with: package.json's start scripts and the Dockerfile's CMD pass them, and a
 * cluster's workers inherit them. They are not configuration variables because V8 reads them only when it sets up the
 * heap, before any of our code runs.
 * - --no-memory-reducer: some 30–45 s after an instance fell idle, V8's memory reducer ran collections that shrank the
 *   heap and, letting go of the object shapes its optimized code relied on, deoptimized that code (~240 functions),
 *   so the first seconds after every lull ran slower while ~400 functions were compiled again (docs/performance-log.md).
 * - --max-semi-space-size=8: the young generation's two halves at most 8 MB each. Under load Node 24's V8 grows them
 *   far past Node 20's 16 MB, and an instance peaked about 100 MB higher (280 MB against 167 MB in `npm run bench`);
 *   with the cap it peaked at 171–189 MB on Node 24 and 149 MB on Node 20. The price, on Node 24, is a tenth to a sixth
 *   of the starts a second at saturation (the checks did not move): docs/performance-log.md, "Node 24" and "What
 *   bounds the closed loop".
 */
export const LAUNCH_FLAGS: readonly string[] = ['--no-memory-reducer', '--max-semi-space-size=8'];

/**
 * The launch flags this process was started without (a hand-written systemd unit or process manager, say). A flag
 * with a value counts as given when it is there with any value, on the command line or in NODE_OPTIONS: an operator's
 * own choice is not reported.
 */
export function missingLaunchFlags(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ''): string[] {
  const name = (arg: string) => arg.replace(/^["']|["']$/g, '').split('=')[0].replace(/_/g, '-');
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map(name);
  return LAUNCH_FLAGS.filter((flag) => !given.includes(name(flag)));
}

/** An error and its causes, one line: "outer: inner: innermost". */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    parts.push(e instanceof Error ? e.message || e.name : String(e));
  }
  return parts.join(': ') || 'unknown error';
}

/**
 * Nest's logger until the app's pino logger takes over (and when the app fails to start before it does):
 * the same JSON lines, so start-up messages and failures are machine-readable like everything else.
 */
export const startupLogger: LoggerService = {
  log: (message: unknown, ...rest: unknown[]) => nestLine('info', message, rest),
  warn: (message: unknown, ...rest: unknown[]) => nestLine('warn', message, rest),
  error: (message: unknown, ...rest: unknown[]) => nestLine('error', message, rest),
  debug: () => undefined,
  verbose: () => undefined,
};

function nestLine(level: 'info' | 'warn' | 'error', message: unknown, rest: unknown[]): void {
  const context = typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : undefined;
  const msg = message instanceof Error ? describeError(message) : typeof message === 'string' ? message : JSON.stringify(message);
  logLine(level, msg, context ? { context } : {});
}

/**
 * Resolves the database: DATABASE_URL when set, else the embedded PostgreSQL under EMBEDDED_PG_DIR.
 * Returns the config with DATABASE_URL filled in, and the embedded server to stop on shutdown.
 */
export async function resolveDatabase(config: AppConfig): Promise<{ config: AppConfig; embedded?: EmbeddedDatabase }> {
  if (config.database.url) return { config };
  const embedded = await startEmbeddedPostgres({
    dir: config.database.embeddedDir,
    port: config.database.embeddedPort,
    log: (msg) => logLine('info', msg),
  });
  return { config: config.with({ DATABASE_URL: embedded.url }), embedded };
}
