import { AppConfig } from './config/app-config';
import { EmbeddedDatabase, startEmbeddedPostgres } from './database/embedded-postgres';

/** Writes one JSON log line in the same shape as the service's logs (before the Nest logger exists). */
export function logLine(level: 'info' | 'warn' | 'error', msg: string): void {
  const levels = { info: 30, warn: 40, error: 50 } as const;
  process.stderr.write(JSON.stringify({ level: levels[level], time: Date.now(), service: 'otp-verify', msg }) + '\n');
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
