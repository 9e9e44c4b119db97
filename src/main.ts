import 'reflect-metadata';
import { createApp } from './app.factory';
import { describeError, logLine, resolveDatabase } from './bootstrap';
import { AppConfig, ConfigError } from './config/app-config';

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
  if (config.issuance.usesDevelopmentHmacKey) logLine('warn', 'OTP_HMAC_KEYS is not set: using the built-in development key (never valid in production)');
  if (config.audit.usesDevelopmentPhoneHashKey) {
    logLine('warn', 'AUDIT_PHONE_HASH_KEY is not set: using the built-in development key (never valid in production)');
  }

  const { config: resolved, embedded } = await resolveDatabase(config);
  // An instance whose embedded database went away (stopped by the instance that owns it, or died) exits, so
  // that a supervisor restarts it (starting a new one), instead of staying live but never ready.
  embedded?.watch(() => {
    logLine('error', `the embedded PostgreSQL on port ${resolved.database.embeddedPort} ${embedded.owned ? 'stopped unexpectedly' : 'that this instance shared was stopped by the process that started it'}; exiting`);
    process.exit(70); // EX_SOFTWARE
  });
  let app;
  try {
    app = await createApp({ config: resolved });
    await app.listen({ port: resolved.http.port, host: resolved.http.host });
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  logLine('info', `listening on http://${resolved.http.host}:${resolved.http.port} (docs at /docs)`);

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
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  logLine('error', `failed to start: ${describeError(err)}`, { stack: err instanceof Error ? err.stack : undefined });
  process.exit(1);
});
