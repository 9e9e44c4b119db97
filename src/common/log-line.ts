export const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/**
 * Writes one JSON log line to stderr in the same shape as the service's pino logs, for what happens before
 * the Nest logger exists or while it still buffers (start-up, the first database connection).
 */
export function logLine(level: keyof typeof LEVELS, msg: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(JSON.stringify({ level: LEVELS[level], time: Date.now(), service: 'otp-verify', ...fields, msg }) + '\n');
}
