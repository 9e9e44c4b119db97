import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { EnvSchema, HmacKey, parseHmacKeys, parseSecretKey } from './env.schema';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Used only outside production, so that `npm start` works with no setup. Never valid in production. */
const DEVELOPMENT_HMAC_KEY = 'dev:' + '646576656c6f706d656e742d6f6e6c792d6b65792d6e6f742d666f722d70726f64';
/** Same idea for the audit trail's phone-number HMAC: fine for a laptop, refused in production. */
const DEVELOPMENT_AUDIT_PHONE_KEY = '6465762d61756469742d70686f6e652d6b65792d6e6f742d666f722d70726f64';

function describe(errors: ValidationError[]): string[] {
  return errors.flatMap((e) => {
    const shown = e.property.includes('KEY') || e.property.includes('SECRET') ? '(hidden)' : JSON.stringify(e.value);
    return Object.values(e.constraints ?? {}).map((msg) => {
      const text = msg.startsWith(e.property) ? msg.slice(e.property.length + 1) : msg;
      return `${e.property}=${shown}: ${text}`;
    });
  });
}

/**
 * The typed, validated configuration. Built once from the environment (`AppConfig.fromEnv`);
 * nothing else in the service reads `process.env`.
 */
export class AppConfig {
  private constructor(private readonly env: EnvSchema) {}

  static fromEnv(source: Record<string, string | undefined>): AppConfig {
    const plain: Record<string, string> = {};
    for (const [k, v] of Object.entries(source)) if (v !== undefined && v !== '') plain[k] = v;
    const env = plainToInstance(EnvSchema, plain, { exposeDefaultValues: true });
    const problems = describe(validateSync(env, { skipMissingProperties: false }));
    if (env.NODE_ENV === 'production' && !env.OTP_HMAC_KEYS) {
      problems.push('OTP_HMAC_KEYS is required when NODE_ENV=production (e.g. OTP_HMAC_KEYS=k1:$(openssl rand -hex 32))');
    }
    if (env.NODE_ENV === 'production' && !env.AUDIT_PHONE_HASH_KEY) {
      problems.push('AUDIT_PHONE_HASH_KEY is required when NODE_ENV=production (e.g. AUDIT_PHONE_HASH_KEY=$(openssl rand -hex 32))');
    }
    for (const kind of ['SMS', 'VOICE'] as const) {
      if (env[`${kind}_PROVIDER`] === 'http' && !env[`${kind}_HTTP_URL`]) problems.push(`${kind}_HTTP_URL is required when ${kind}_PROVIDER=http`);
    }
    if (problems.length) throw new ConfigError(problems);
    return new AppConfig(env);
  }

  get isProduction(): boolean {
    return this.env.NODE_ENV === 'production';
  }
  get nodeEnv(): string {
    return this.env.NODE_ENV;
  }
  get http() {
    return { port: this.env.PORT, host: this.env.HOST, trustProxy: this.env.TRUST_PROXY, shutdownTimeoutMs: this.env.SHUTDOWN_TIMEOUT_MS };
  }
  get logLevel(): string {
    return this.env.LOG_LEVEL;
  }
  get database() {
    return {
      url: this.env.DATABASE_URL,
      poolSize: this.env.DATABASE_POOL_SIZE,
      runMigrations: this.env.MIGRATIONS_RUN,
      embeddedDir: this.env.EMBEDDED_PG_DIR,
      embeddedPort: this.env.EMBEDDED_PG_PORT,
    };
  }
  get redisUrl(): string | undefined {
    return this.env.REDIS_URL;
  }
  get throttle() {
    return { limit: this.env.THROTTLE_LIMIT, ttlMs: this.env.THROTTLE_TTL_SECONDS * 1000 };
  }
  get apiKeyCacheTtlMs(): number {
    return this.env.API_KEY_CACHE_TTL_SECONDS * 1000;
  }
  get devClient() {
    return { enabled: this.env.DEV_CLIENT_ENABLED && !this.isProduction, apiKey: this.env.DEV_API_KEY };
  }
  /** Newest key first is the last one listed. */
  get otpHmacKeys(): HmacKey[] {
    return parseHmacKeys(this.env.OTP_HMAC_KEYS ?? DEVELOPMENT_HMAC_KEY);
  }
  get usesDevelopmentHmacKey(): boolean {
    return !this.env.OTP_HMAC_KEYS;
  }
  get audit() {
    return {
      phoneHashKey: parseSecretKey(this.env.AUDIT_PHONE_HASH_KEY ?? DEVELOPMENT_AUDIT_PHONE_KEY),
      usesDevelopmentPhoneHashKey: !this.env.AUDIT_PHONE_HASH_KEY,
      sequencer: {
        enabled: this.env.AUDIT_SEQUENCER_ENABLED,
        intervalMs: this.env.AUDIT_SEQUENCER_INTERVAL_MS,
        batchSize: this.env.AUDIT_SEQUENCER_BATCH_SIZE,
      },
      retention: {
        days: this.env.AUDIT_RETENTION_DAYS,
        archiveDir: this.env.AUDIT_ARCHIVE_DIR,
        intervalMs: this.env.AUDIT_RETENTION_INTERVAL_SECONDS * 1000,
      },
    };
  }
  get serviceName(): string {
    return this.env.SERVICE_NAME;
  }
  get gateway() {
    return {
      smsProvider: this.env.SMS_PROVIDER as 'console' | 'http',
      voiceProvider: this.env.VOICE_PROVIDER as 'console' | 'http',
      smsHttpUrl: this.env.SMS_HTTP_URL,
      voiceHttpUrl: this.env.VOICE_HTTP_URL,
      httpToken: this.env.PROVIDER_HTTP_TOKEN,
      timeoutMs: this.env.PROVIDER_TIMEOUT_MS,
      messageMaxAttempts: this.env.MESSAGE_MAX_ATTEMPTS,
      pollIntervalMs: this.env.OUTBOX_POLL_INTERVAL_MS,
      webhookTimeoutMs: this.env.WEBHOOK_TIMEOUT_MS,
    };
  }
  /** The dev inbox exists only with the built-in console provider, outside production. */
  get devInboxEnabled(): boolean {
    return !this.isProduction && this.env.SMS_PROVIDER === 'console';
  }
  get otp() {
    return {
      maxAttempts: this.env.OTP_MAX_ATTEMPTS,
      maxSends: this.env.OTP_MAX_SENDS,
      resendCooldownSeconds: this.env.OTP_RESEND_COOLDOWN_SECONDS,
      phoneSendsPer15Min: this.env.PHONE_SENDS_PER_15_MIN,
      phoneSendsPer24H: this.env.PHONE_SENDS_PER_24_H,
      phoneCheckFailuresPerHour: this.env.PHONE_CHECK_FAILURES_PER_HOUR,
      sweepIntervalMs: this.env.EXPIRY_SWEEP_INTERVAL_MS,
      webOtpDomain: this.env.WEBOTP_DOMAIN,
    };
  }

  /** A copy with some variables replaced: tests use it to run instances with other settings. */
  with(overrides: Partial<Record<keyof EnvSchema, string>>): AppConfig {
    const current: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(this.env)) current[k] = v === undefined ? undefined : String(v);
    return AppConfig.fromEnv({ ...current, ...overrides });
  }
}
