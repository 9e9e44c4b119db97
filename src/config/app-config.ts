import { hkdfSync } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { EnvSchema, HmacKey, parseDestinationList, parseHmacKeys, parseRouteList, parseSecretKey, parseTrustProxy, PROVIDER_NAMES } from './env.schema';
import { DEFAULT_HTTP_TEMPLATES, parseHttpTemplate, parseStatusList, parseStatusMap, TemplateValue } from './http-template';
import { redactValue } from './redact';

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

/** One line per failed rule, naming the variable; secret values are hidden and URL credentials masked (redact.ts). */
function describe(errors: ValidationError[]): string[] {
  return errors.flatMap((e) => {
    const shown = redactValue(e.property, e.value);
    return Object.values(e.constraints ?? {}).map((msg) => {
      const text = msg.startsWith(e.property) ? msg.slice(e.property.length + 1) : msg;
      return `${e.property}=${shown}: ${text}`;
    });
  });
}

/** Per-module settings: each module reads only its own group (ARCHITECTURE.md, "config"). */
export interface HttpConfig {
  port: number;
  host: string;
  /** Fastify's trustProxy: false, true (every hop), or the proxies' addresses and CIDR ranges. */
  trustProxy: boolean | string[];
  shutdownTimeoutMs: number;
  /** Worker processes behind the one port (main.ts, node:cluster); 1 runs the app in the main process. */
  workers: number;
  /** V8's heap growing factor, in percent over the live heap (main.ts); 0 leaves V8's default. */
  heapGrowthPercent: number;
  /** V8's allocation-site pretenuring (main.ts); off by default. */
  heapPretenuring: boolean;
}
export interface DatabaseConfig {
  url: string | undefined;
  poolSize: number;
  /** A pooled connection idle this long is closed; 0 keeps them. */
  idleTimeoutMs: number;
  /** Statements named, so each connection prepares them once (common/sql.ts `named`). */
  preparedStatements: boolean;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  startupRetryMs: number;
  runMigrations: boolean;
  embeddedDir: string;
  embeddedPort: number;
}
export interface ThrottleConfig {
  limit: number;
  ttlMs: number;
  /** Failed authentications per client IP per window. */
  authFailuresLimit: number;
  redisUrl: string | undefined;
}
export interface ClientsConfig {
  apiKeyCacheTtlMs: number;
  devClient: { enabled: boolean; apiKey: string | undefined };
  /** What a client's policy shows for the fields no admin set (OTP_MAX_ATTEMPTS; THROTTLE_LIMIT as a rate per minute). */
  policyDefaults: { maxCheckAttempts: number; requestsPerMinute: number } & RiskPolicyDefaults;
  /** After a webhook secret rotation, how long the previous secret keeps signing beside the new one. */
  webhookSecretOverlapMs: number;
}
export interface AuditConfig {
  phoneHashKey: Buffer;
  usesDevelopmentPhoneHashKey: boolean;
  sequencer: { enabled: boolean; intervalMs: number; batchSize: number };
  retention: { days: number; archiveDir: string; intervalMs: number };
  /** Exports this process runs at a time, and how long one may wait for its reader. */
  exports: { max: number; idleTimeoutMs: number };
}
/** Twilio's credentials and caller number (SMS_PROVIDER / VOICE_PROVIDER list twilio); its client lives in gateway/providers/twilio. */
export interface TwilioConfig {
  accountSid: string;
  authToken: string;
  /** The sender of SMS and the caller number of calls. */
  fromNumber: string;
  /** https://api.twilio.com, or a stand-in (the tests' fake Twilio). */
  apiBaseUrl: string;
}
/** Vonage's credentials (SMS_PROVIDER / VOICE_PROVIDER list vonage); its client lives in gateway/providers/vonage. */
export interface VonageConfig {
  /** Basic auth of the Messages API (SMS), when no application is given. */
  apiKey: string | undefined;
  apiSecret: string | undefined;
  /** An application and its private key: JWT auth of the Messages and Voice APIs (voice needs them). */
  applicationId: string | undefined;
  privateKey: string | undefined;
  /** Vonage signs its webhooks (status of messages, call events) with it: a JWT, HS256. */
  signatureSecret: string;
  fromNumber: string;
  /** https://api.nexmo.com, or a stand-in (the tests' fake Vonage). */
  apiBaseUrl: string;
}
/** AWS End User Messaging SMS (SMS_PROVIDER lists aws); its client lives in gateway/providers/aws. */
export interface AwsSmsConfig {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The phone number, pool or sender id messages go out from. */
  originationIdentity: string;
  /** Its event destinations get the delivery events (receipts are not read back by this service). */
  configurationSet: string | undefined;
  /** The region's endpoint unless given (the tests' fake AWS). */
  endpoint: string | undefined;
}
/** The generic `http` provider: today's fixed JSON contract by default, or a templated request to an SMS aggregator. */
export interface HttpProviderConfig {
  smsUrl: string | undefined;
  voiceUrl: string | undefined;
  method: 'POST' | 'PUT';
  contentType: 'json' | 'form';
  /** The auth header, sent when PROVIDER_HTTP_TOKEN is set: its name and its value with the token placed. */
  auth: { header: string; value: string } | null;
  from: string | undefined;
  templates: { sms: { [key: string]: TemplateValue }; voice: { [key: string]: TemplateValue } };
  idPath: string;
  errorPath: string | undefined;
  /** Codes (408) and classes ('5xx') after which the next provider is tried. */
  retryableStatuses: Array<number | string>;
  /** Set when PROVIDER_HTTP_RECEIPT_SECRET is: the HMAC-signed receipts at /v1/callbacks/http/status. */
  receipts: HttpReceiptConfig | null;
}
export interface HttpReceiptConfig {
  secret: string;
  signatureHeader: string;
  timestampHeader: string;
  encoding: 'hex' | 'base64';
  toleranceMs: number;
  referencePath: string;
  idPath: string;
  statusPath: string;
  statusMap: Record<string, 'sent' | 'delivered' | 'undelivered' | 'failed'>;
}
export type ProviderName = (typeof PROVIDER_NAMES)[number];
/** The providers of one channel, in the order a send tries them; another order per country calling code. */
export interface RouteTable {
  providers: ProviderName[];
  byCallingCode: Record<string, ProviderName[]>;
}
/** How sends are routed over the providers (gateway/routing). */
export interface RoutingConfig {
  sms: RouteTable;
  voice: RouteTable;
  /** One send, over every provider it tries. */
  budgetMs: number;
  /** What a timed-out provider request (maybe accepted) leads to: the next provider, or nothing more. */
  onTimeout: 'failover' | 'wait';
  circuit: { failures: number; halfOpenAfterMs: number };
  /** Sends per second per `provider.channel` (e.g. `twilio.voice`), across instances; absent: no limit. */
  rateLimits: Record<string, number>;
}
export interface GatewayConfig {
  routing: RoutingConfig;
  /** Finished outbox rows (and their attempts, and ended voice calls) older than this are pruned by housekeeping. */
  outboxRetentionMs: number;
  /** Set when TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are (and TWILIO_FROM_NUMBER, when twilio is routed). */
  twilio: TwilioConfig | null;
  /** Set when Vonage is routed (fromEnv requires its variables then). */
  vonage: VonageConfig | null;
  /** Set when aws is routed (fromEnv requires its variables then). */
  aws: AwsSmsConfig | null;
  /** PUBLIC_CALLBACK_BASE_URL without a trailing slash: what providers call back, and what their signatures cover. */
  publicCallbackBaseUrl: string | undefined;
  http: HttpProviderConfig;
  timeoutMs: number;
  messageMaxAttempts: number;
  pollIntervalMs: number;
  webhookTimeoutMs: number;
  /** Webhook deliveries in flight at once per client in one instance. */
  webhookConcurrencyPerClient: number;
  /** The dev inbox exists only with the built-in console provider, outside production. */
  devInboxEnabled: boolean;
  /** Keys the outbox derives its payload-sealing keys from (OTP_HMAC_KEYS); the newest is last. */
  sealingKeys: HmacKey[];
}
/** Where result webhooks may go (common/webhook-destinations.ts), checked when a URL is given and at each delivery. */
export interface WebhookDestinationsConfig {
  httpsOnly: boolean;
  allowLoopback: boolean;
  allowed: string[];
}
/** The number policy of a client that has none of its own (API.md, Admin: a client's policy). */
export interface RiskPolicyDefaults {
  /** ISO 3166-1 alpha-2 countries whose numbers starts may use (RISK_ALLOWED_COUNTRIES). */
  countries: string[];
  /** Number types allowed per channel (RISK_SMS_NUMBER_TYPES, RISK_VOICE_NUMBER_TYPES). */
  numberTypes: { sms: string[]; voice: string[] };
  /** When starts need a voice-contract check (RISK_VOICE_CONTRACT_DEFAULT, _ON_UNKNOWN, _METHOD). */
  voiceContract: VoiceContractDefaults;
  /** What a tripped pumping rule does (RISK_PUMPING_MODE). */
  pumping: PumpingMode;
}

/** The service's voice-contract policy for clients without their own (the types of common/auth build on these). */
export interface VoiceContractDefaults {
  default: 'off' | 'prefer' | 'require';
  onUnknown: 'deny' | 'allow';
  method: 'ivr_outbound' | 'ivr_inbound';
}

/** Voice-contract checks (issue 10 item 7). */
export interface VoiceCheckConfig {
  confirmedMs: number;
  absentMs: number;
  retries: number;
  retryDelayMs: number;
  key: string;
  windowMs: number;
  inboundWindowMs: number;
  /** The service's number people call for an inbound check (RISK_INBOUND_CHECK_NUMBER). */
  inboundNumber: string | null;
}
export type PumpingMode = 'enforce' | 'record_only';
/** Starts per unit per hour (0: no limit), across instances: the end user's IP and device, the number prefix, the client. */
export interface StartVelocityLimits {
  ip: number;
  device: number;
  prefix: number;
  client: number;
}
/** SMS-pumping rules (risk/pumping-rules.ts): thresholds relative to a unit's own verified volume, with floors. */
export interface PumpingConfig {
  dailyFloor: number;
  hourlyFloor: number;
  ratio: number;
  suspensionMs: number;
}
export interface RiskConfig {
  phoneSendsPer15Min: number;
  phoneSendsPer24H: number;
  phoneCheckFailuresPerHour: number;
  policyDefaults: RiskPolicyDefaults;
  voiceCheck: VoiceCheckConfig;
  /** Digits (without +) of a number's prefix. */
  prefixLength: number;
  /** Never suspended as a country by the pumping rules, only reported. */
  homeCountry: string;
  startsPerHour: StartVelocityLimits;
  manyAccounts: { max: number; windowMs: number; action: 'screen' | 'deny' };
  pumping: PumpingConfig;
  /** How often approvals are folded into the unit counters (risk/approval-folding.ts). */
  approvalsFoldIntervalMs: number;
  /** Key of the HMAC that stores end users' account references and device ids. */
  endUserHashKey: Buffer;
}
export interface IssuanceConfig {
  /** Final verifications created longer ago than this are pruned by housekeeping (the audit trail keeps the facts). */
  verificationRetentionMs: number;
  /** Code HMAC keys; the newest, used for new codes, is the last one listed. */
  hmacKeys: HmacKey[];
  usesDevelopmentHmacKey: boolean;
  maxAttempts: number;
  maxSends: number;
  resendCooldownSeconds: number;
  serviceName: string;
  webOtpDomain: string | undefined;
}
/** The one pruning scheduler (database/housekeeping.ts). */
export interface HousekeepingConfig {
  enabled: boolean;
  intervalMs: number;
  batchSize: number;
}
export interface VerificationConfig {
  sweepIntervalMs: number;
}

/**
 * The typed, validated configuration. Built once from the environment (`AppConfig.fromEnv`);
 * nothing else in the service reads `process.env`. Each module has its own typed group, computed once.
 */
export class AppConfig {
  readonly isProduction: boolean;
  readonly nodeEnv: string;
  readonly logLevel: string;
  readonly http: HttpConfig;
  readonly database: DatabaseConfig;
  readonly throttle: ThrottleConfig;
  readonly clients: ClientsConfig;
  readonly audit: AuditConfig;
  readonly gateway: GatewayConfig;
  readonly webhookDestinations: WebhookDestinationsConfig;
  readonly risk: RiskConfig;
  readonly issuance: IssuanceConfig;
  readonly verification: VerificationConfig;
  readonly housekeeping: HousekeepingConfig;

  private constructor(private readonly env: EnvSchema) {
    this.isProduction = env.NODE_ENV === 'production';
    this.nodeEnv = env.NODE_ENV;
    this.logLevel = env.LOG_LEVEL;
    this.http = { port: env.PORT, host: env.HOST, trustProxy: parseTrustProxy(env.TRUST_PROXY), shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
      workers: env.WORKERS === 'auto' ? availableParallelism() : Number(env.WORKERS),
      heapGrowthPercent: env.HEAP_GROWTH_PERCENT,
      heapPretenuring: env.HEAP_PRETENURING,
    };
    this.database = {
      url: env.DATABASE_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      idleTimeoutMs: env.DATABASE_POOL_IDLE_TIMEOUT_SECONDS * 1000,
      preparedStatements: env.DATABASE_PREPARED_STATEMENTS,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
      startupRetryMs: env.DATABASE_STARTUP_RETRY_SECONDS * 1000,
      runMigrations: env.MIGRATIONS_RUN,
      embeddedDir: env.EMBEDDED_PG_DIR,
      embeddedPort: env.EMBEDDED_PG_PORT,
    };
    this.throttle = { limit: env.THROTTLE_LIMIT, ttlMs: env.THROTTLE_TTL_SECONDS * 1000, authFailuresLimit: env.THROTTLE_AUTH_FAILURES_LIMIT, redisUrl: env.REDIS_URL };
    const riskPolicyDefaults: RiskPolicyDefaults = {
      countries: [...new Set(env.RISK_ALLOWED_COUNTRIES.split(',').map((c) => c.trim().toUpperCase()))],
      numberTypes: { sms: [...new Set(env.RISK_SMS_NUMBER_TYPES.split(','))], voice: [...new Set(env.RISK_VOICE_NUMBER_TYPES.split(','))] },
      voiceContract: {
        default: env.RISK_VOICE_CONTRACT_DEFAULT as VoiceContractDefaults['default'],
        onUnknown: env.RISK_VOICE_CONTRACT_ON_UNKNOWN as VoiceContractDefaults['onUnknown'],
        method: env.RISK_VOICE_CONTRACT_METHOD as VoiceContractDefaults['method'],
      },
      pumping: env.RISK_PUMPING_MODE as PumpingMode,
    };
    this.clients = {
      apiKeyCacheTtlMs: env.API_KEY_CACHE_TTL_SECONDS * 1000,
      devClient: { enabled: env.DEV_CLIENT_ENABLED && !this.isProduction, apiKey: env.DEV_API_KEY },
      policyDefaults: {
        maxCheckAttempts: env.OTP_MAX_ATTEMPTS,
        requestsPerMinute: Math.max(1, Math.round((env.THROTTLE_LIMIT * 60) / env.THROTTLE_TTL_SECONDS)),
        ...riskPolicyDefaults,
      },
      webhookSecretOverlapMs: env.WEBHOOK_SECRET_ROTATION_OVERLAP_HOURS * 3600 * 1000,
    };
    this.audit = {
      phoneHashKey: parseSecretKey(env.AUDIT_PHONE_HASH_KEY ?? DEVELOPMENT_AUDIT_PHONE_KEY),
      usesDevelopmentPhoneHashKey: !env.AUDIT_PHONE_HASH_KEY,
      sequencer: { enabled: env.AUDIT_SEQUENCER_ENABLED, intervalMs: env.AUDIT_SEQUENCER_INTERVAL_MS, batchSize: env.AUDIT_SEQUENCER_BATCH_SIZE },
      retention: { days: env.AUDIT_RETENTION_DAYS, archiveDir: env.AUDIT_ARCHIVE_DIR, intervalMs: env.AUDIT_RETENTION_INTERVAL_SECONDS * 1000 },
      exports: { max: Math.max(1, Math.floor(env.DATABASE_POOL_SIZE / 4)), idleTimeoutMs: env.AUDIT_EXPORT_IDLE_TIMEOUT_SECONDS * 1000 },
    };
    const hmacKeys = parseHmacKeys(env.OTP_HMAC_KEYS ?? DEVELOPMENT_HMAC_KEY);
    const routed = routedProviders(env);
    this.gateway = {
      routing: {
        sms: routeTable(env.SMS_PROVIDER, env.SMS_ROUTES),
        voice: routeTable(env.VOICE_PROVIDER, env.VOICE_ROUTES),
        budgetMs: env.PROVIDER_SEND_BUDGET_MS,
        onTimeout: env.PROVIDER_ON_TIMEOUT as 'failover' | 'wait',
        circuit: { failures: env.PROVIDER_CIRCUIT_FAILURES, halfOpenAfterMs: env.PROVIDER_CIRCUIT_HALF_OPEN_MS },
        rateLimits: rateLimits(env),
      },
      outboxRetentionMs: env.OUTBOX_RETENTION_DAYS * 86_400_000,
      twilio:
        env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN && env.TWILIO_FROM_NUMBER
          ? { accountSid: env.TWILIO_ACCOUNT_SID, authToken: env.TWILIO_AUTH_TOKEN, fromNumber: env.TWILIO_FROM_NUMBER, apiBaseUrl: env.TWILIO_API_BASE_URL.replace(/\/+$/, '') }
          : null,
      vonage:
        routed.all.has('vonage') && env.VONAGE_SIGNATURE_SECRET && env.VONAGE_FROM_NUMBER
          ? {
              apiKey: env.VONAGE_API_KEY,
              apiSecret: env.VONAGE_API_SECRET,
              applicationId: env.VONAGE_APPLICATION_ID,
              privateKey: env.VONAGE_PRIVATE_KEY?.replace(/\\n/g, '\n'),
              signatureSecret: env.VONAGE_SIGNATURE_SECRET,
              fromNumber: env.VONAGE_FROM_NUMBER,
              apiBaseUrl: env.VONAGE_API_BASE_URL.replace(/\/+$/, ''),
            }
          : null,
      aws:
        routed.all.has('aws') && env.AWS_REGION && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY && env.AWS_SMS_ORIGINATION_IDENTITY
          ? {
              region: env.AWS_REGION,
              accessKeyId: env.AWS_ACCESS_KEY_ID,
              secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
              originationIdentity: env.AWS_SMS_ORIGINATION_IDENTITY,
              configurationSet: env.AWS_SMS_CONFIGURATION_SET,
              endpoint: env.AWS_API_BASE_URL?.replace(/\/+$/, ''),
            }
          : null,
      publicCallbackBaseUrl: env.PUBLIC_CALLBACK_BASE_URL?.replace(/\/+$/, ''),
      http: httpProviderConfig(env),
      timeoutMs: env.PROVIDER_TIMEOUT_MS,
      messageMaxAttempts: env.MESSAGE_MAX_ATTEMPTS,
      pollIntervalMs: env.OUTBOX_POLL_INTERVAL_MS,
      webhookTimeoutMs: env.WEBHOOK_TIMEOUT_MS,
      webhookConcurrencyPerClient: env.WEBHOOK_CONCURRENCY_PER_CLIENT,
      // Only while console is the one SMS provider: with a real one the inbox would show codes that were really sent.
      devInboxEnabled: !this.isProduction && env.SMS_PROVIDER === 'console',
      sealingKeys: hmacKeys,
    };
    this.webhookDestinations = {
      httpsOnly: this.isProduction,
      allowLoopback: env.WEBHOOK_ALLOW_LOOPBACK ?? !this.isProduction,
      allowed: env.WEBHOOK_ALLOWED_DESTINATIONS ? parseDestinationList(env.WEBHOOK_ALLOWED_DESTINATIONS) : [],
    };
    this.risk = {
      phoneSendsPer15Min: env.PHONE_SENDS_PER_15_MIN,
      phoneSendsPer24H: env.PHONE_SENDS_PER_24_H,
      phoneCheckFailuresPerHour: env.PHONE_CHECK_FAILURES_PER_HOUR,
      policyDefaults: riskPolicyDefaults,
      voiceCheck: {
        confirmedMs: env.RISK_VOICE_CONTRACT_CONFIRMED_DAYS * 86_400_000,
        absentMs: env.RISK_VOICE_CONTRACT_ABSENT_DAYS * 86_400_000,
        retries: env.RISK_VOICE_CHECK_RETRIES,
        retryDelayMs: env.RISK_VOICE_CHECK_RETRY_SECONDS * 1000,
        key: env.RISK_VOICE_CHECK_KEY,
        windowMs: env.RISK_VOICE_CHECK_WINDOW_SECONDS * 1000,
        inboundWindowMs: env.RISK_INBOUND_CHECK_WINDOW_SECONDS * 1000,
        inboundNumber: env.RISK_INBOUND_CHECK_NUMBER ?? null,
      },
      prefixLength: env.RISK_PREFIX_LENGTH,
      homeCountry: env.RISK_HOME_COUNTRY.toUpperCase(),
      startsPerHour: { ip: env.RISK_IP_STARTS_PER_HOUR, device: env.RISK_DEVICE_STARTS_PER_HOUR, prefix: env.RISK_PREFIX_STARTS_PER_HOUR, client: env.RISK_CLIENT_STARTS_PER_HOUR },
      manyAccounts: { max: env.RISK_MANY_ACCOUNTS_MAX, windowMs: env.RISK_MANY_ACCOUNTS_WINDOW_DAYS * 24 * 3600_000, action: env.RISK_MANY_ACCOUNTS_ACTION as 'screen' | 'deny' },
      pumping: {
        dailyFloor: env.RISK_PUMPING_DAILY_FLOOR,
        hourlyFloor: env.RISK_PUMPING_HOURLY_FLOOR,
        ratio: Number(env.RISK_PUMPING_RATIO),
        suspensionMs: env.RISK_SUSPENSION_HOURS * 3600_000,
      },
      approvalsFoldIntervalMs: env.RISK_APPROVALS_FOLD_INTERVAL_MS,
      // Its own key when set; else one derived from the first (oldest) code key, which rotation keeps longest.
      endUserHashKey: env.RISK_END_USER_HASH_KEY
        ? parseSecretKey(env.RISK_END_USER_HASH_KEY)
        : Buffer.from(hkdfSync('sha256', hmacKeys[0].secret, Buffer.alloc(0), 'otp-verify risk end-user signals', 32)),
    };
    this.issuance = {
      verificationRetentionMs: env.VERIFICATION_RETENTION_DAYS * 86_400_000,
      hmacKeys,
      usesDevelopmentHmacKey: !env.OTP_HMAC_KEYS,
      maxAttempts: env.OTP_MAX_ATTEMPTS,
      maxSends: env.OTP_MAX_SENDS,
      resendCooldownSeconds: env.OTP_RESEND_COOLDOWN_SECONDS,
      serviceName: env.SERVICE_NAME,
      webOtpDomain: env.WEBOTP_DOMAIN,
    };
    this.verification = { sweepIntervalMs: env.EXPIRY_SWEEP_INTERVAL_MS };
    this.housekeeping = { enabled: env.HOUSEKEEPING_ENABLED, intervalMs: env.HOUSEKEEPING_INTERVAL_SECONDS * 1000, batchSize: env.HOUSEKEEPING_BATCH_SIZE };
    Object.freeze(this);
  }

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
    if (env.RISK_VOICE_CONTRACT_METHOD === 'ivr_inbound' && !env.RISK_INBOUND_CHECK_NUMBER) {
      problems.push('RISK_INBOUND_CHECK_NUMBER is required when RISK_VOICE_CONTRACT_METHOD=ivr_inbound (the number people call for an inbound check)');
    }
    // A check still calling when its window ends is decided `unknown` by the stale-check sweep: the window must hold
    // all of its calls (the retries, or the confirming call of an `absent`) with their delays, at about a minute a call.
    const calls = Math.max(env.RISK_VOICE_CHECK_RETRIES, 1) + 1;
    const checkSeconds = (calls - 1) * env.RISK_VOICE_CHECK_RETRY_SECONDS + calls * 60;
    if (env.RISK_VOICE_CHECK_WINDOW_SECONDS < checkSeconds) {
      problems.push(
        `RISK_VOICE_CHECK_WINDOW_SECONDS (${env.RISK_VOICE_CHECK_WINDOW_SECONDS}) must be at least ${checkSeconds}: a check may place ${calls} calls, RISK_VOICE_CHECK_RETRY_SECONDS (${env.RISK_VOICE_CHECK_RETRY_SECONDS}) apart, each taking up to a minute, and one still calling at the window's end is decided unknown`,
      );
    }
    // Each of those jobs holds a connection for its lock while it works on another, and their runs may overlap.
    const lockHolders = [env.HOUSEKEEPING_ENABLED && 'HOUSEKEEPING_ENABLED=true', env.AUDIT_RETENTION_DAYS > 0 && 'AUDIT_RETENTION_DAYS > 0'].filter(Boolean);
    if (lockHolders.length && env.DATABASE_POOL_SIZE < lockHolders.length + 1) {
      problems.push(
        `DATABASE_POOL_SIZE must be at least ${lockHolders.length + 1} while ${lockHolders.join(' and ')}: housekeeping and audit retention each hold one connection for their lock while they work on another, and their runs may overlap`,
      );
    }
    if (problems.length === 0) problems.push(...providerProblems(env));
    if (problems.length) throw new ConfigError(problems);
    return new AppConfig(env);
  }

  /**
   * What stops the service process from starting (main.ts exits 78 with these), beyond the validation of
   * fromEnv: in production the built-in console provider would accept every message and send none, so
   * verifications would read `sent` while nobody gets a code. Kept out of fromEnv so that tests may still
   * build a production configuration of the app in-process.
   */
  startupProblems(): string[] {
    if (!this.isProduction) return [];
    const problems: string[] = [];
    for (const kind of ['SMS', 'VOICE'] as const) {
      if (this.env[`${kind}_PROVIDER`].split(',').includes('console') || (this.env[`${kind}_ROUTES`] ?? '').match(/[=,]console\b/)) {
        problems.push(
          `${kind}_PROVIDER=console is refused when NODE_ENV=production: the console provider sends nothing. ` +
            `List real providers only in ${kind}_PROVIDER (and ${kind}_ROUTES): twilio, vonage, ${kind === 'SMS' ? 'aws, ' : ''}or http with ${kind}_HTTP_URL`,
        );
      }
    }
    // Vendors sign what they call: over plain http a callback (and its signature) could be read and replayed.
    // The generic provider's endpoints carry its token and every code: never in clear over a network (a relay on
    // this host, at a loopback address, is the one exception).
    for (const name of ['SMS_HTTP_URL', 'VOICE_HTTP_URL'] as const) {
      const url = this.env[name];
      if (url && routedProviders(this.env).all.has('http') && !url.startsWith('https://') && !/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//.test(url + '/')) {
        problems.push(`${name} must be an https:// URL when NODE_ENV=production (it carries the codes and the provider token)`);
      }
    }
    // A send under way when SIGTERM comes may take its whole budget (failing over between providers): cut off, its row
    // stays `sending` until its lease ends, and the message goes late, or twice if a provider had taken it.
    if (this.env.SHUTDOWN_TIMEOUT_MS <= this.env.PROVIDER_SEND_BUDGET_MS) {
      problems.push(
        `SHUTDOWN_TIMEOUT_MS (${this.env.SHUTDOWN_TIMEOUT_MS}) must be longer than PROVIDER_SEND_BUDGET_MS (${this.env.PROVIDER_SEND_BUDGET_MS}) when NODE_ENV=production: a send under way at shutdown may take its whole budget (the default of 25000 leaves 10 s for requests in flight; give the orchestrator a longer grace period still)`,
      );
    }
    const callbackBase = this.env.PUBLIC_CALLBACK_BASE_URL;
    const vendors = [...routedProviders(this.env).all].filter((p) => p === 'twilio' || p === 'vonage' || (p === 'http' && this.env.PROVIDER_HTTP_RECEIPT_SECRET !== undefined));
    if (vendors.length > 0 && callbackBase && !callbackBase.startsWith('https://')) {
      problems.push('PUBLIC_CALLBACK_BASE_URL must be an https:// URL when NODE_ENV=production (providers call it back with signed requests)');
    }
    return problems;
  }

  /** A copy with some variables replaced: tests use it to run instances with other settings. */
  with(overrides: Partial<Record<keyof EnvSchema, string>>): AppConfig {
    const current: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(this.env)) current[k] = v === undefined ? undefined : String(v);
    return AppConfig.fromEnv(Object.assign({}, current, overrides));
  }
}

/** The generic provider's settings (fromEnv has checked the templates: parsing them again cannot fail). */
function httpProviderConfig(env: EnvSchema): HttpProviderConfig {
  const form = env.PROVIDER_HTTP_CONTENT_TYPE === 'form';
  const template = (channel: 'sms' | 'voice') =>
    parseHttpTemplate((channel === 'sms' ? env.SMS_HTTP_BODY_TEMPLATE : env.VOICE_HTTP_BODY_TEMPLATE) ?? DEFAULT_HTTP_TEMPLATES[channel], channel, { form, hasFrom: !!env.PROVIDER_HTTP_FROM });
  return {
    smsUrl: env.SMS_HTTP_URL,
    voiceUrl: env.VOICE_HTTP_URL,
    method: env.PROVIDER_HTTP_METHOD as 'POST' | 'PUT',
    contentType: env.PROVIDER_HTTP_CONTENT_TYPE as 'json' | 'form',
    auth: env.PROVIDER_HTTP_TOKEN ? { header: env.PROVIDER_HTTP_AUTH_HEADER, value: env.PROVIDER_HTTP_AUTH_VALUE.split('{{token}}').join(env.PROVIDER_HTTP_TOKEN) } : null,
    from: env.PROVIDER_HTTP_FROM,
    templates: { sms: template('sms'), voice: template('voice') },
    idPath: env.PROVIDER_HTTP_ID_PATH,
    errorPath: env.PROVIDER_HTTP_ERROR_PATH,
    retryableStatuses: parseStatusList(env.PROVIDER_HTTP_RETRYABLE_STATUSES),
    receipts: env.PROVIDER_HTTP_RECEIPT_SECRET
      ? {
          secret: env.PROVIDER_HTTP_RECEIPT_SECRET,
          signatureHeader: env.PROVIDER_HTTP_RECEIPT_SIGNATURE_HEADER.toLowerCase(),
          timestampHeader: env.PROVIDER_HTTP_RECEIPT_TIMESTAMP_HEADER.toLowerCase(),
          encoding: env.PROVIDER_HTTP_RECEIPT_SIGNATURE_ENCODING as 'hex' | 'base64',
          toleranceMs: env.PROVIDER_HTTP_RECEIPT_TOLERANCE_SECONDS * 1000,
          referencePath: env.PROVIDER_HTTP_RECEIPT_REFERENCE_PATH,
          idPath: env.PROVIDER_HTTP_RECEIPT_ID_PATH,
          statusPath: env.PROVIDER_HTTP_RECEIPT_STATUS_PATH,
          statusMap: parseStatusMap(env.PROVIDER_HTTP_RECEIPT_STATUS_MAP),
        }
      : null,
  };
}

function routeTable(providers: string, routes: string | undefined): RouteTable {
  return { providers: providers.split(',') as ProviderName[], byCallingCode: (routes ? parseRouteList(routes) : {}) as Record<string, ProviderName[]> };
}

/** Every provider named by a channel's list or routes. */
function routedProviders(env: EnvSchema): { sms: Set<string>; voice: Set<string>; all: Set<string> } {
  const of = (list: string, routes: string | undefined) => new Set([...list.split(','), ...Object.values(routes ? parseRouteList(routes) : {}).flat()]);
  const sms = of(env.SMS_PROVIDER, env.SMS_ROUTES);
  const voice = of(env.VOICE_PROVIDER, env.VOICE_ROUTES);
  return { sms, voice, all: new Set([...sms, ...voice]) };
}

/**
 * The credentials, caller numbers and callback address each routed provider needs, named when missing
 * (checked once the variables themselves are valid, so their lists can be read).
 */
function providerProblems(env: EnvSchema): string[] {
  const problems: string[] = [];
  const routed = routedProviders(env);
  const need = (provider: string, names: Array<keyof EnvSchema>, channel?: 'sms' | 'voice') => {
    const uses = channel ? routed[channel].has(provider) : routed.all.has(provider);
    if (!uses) return;
    const sms = routed.sms.has(provider) && channel !== 'voice';
    const voice = routed.voice.has(provider) && channel !== 'sms';
    const label = sms && voice ? 'SMS_PROVIDER or VOICE_PROVIDER' : sms ? 'SMS_PROVIDER' : 'VOICE_PROVIDER';
    for (const name of names) if (!env[name]) problems.push(`${name} is required when ${label} lists ${provider}`);
  };
  for (const channel of ['sms', 'voice'] as const) need('http', [channel === 'sms' ? 'SMS_HTTP_URL' : 'VOICE_HTTP_URL'], channel);
  // A real vendor: its credentials, the number it sends or calls from, and our public address for its signed callbacks.
  need('twilio', ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM_NUMBER', 'PUBLIC_CALLBACK_BASE_URL']);
  need('vonage', ['VONAGE_SIGNATURE_SECRET', 'VONAGE_FROM_NUMBER', 'PUBLIC_CALLBACK_BASE_URL']);
  if (routed.sms.has('vonage') && !(env.VONAGE_API_KEY && env.VONAGE_API_SECRET) && !(env.VONAGE_APPLICATION_ID && env.VONAGE_PRIVATE_KEY)) {
    problems.push('VONAGE_API_KEY and VONAGE_API_SECRET (or VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY) are required when SMS_PROVIDER lists vonage');
  }
  need('vonage', ['VONAGE_APPLICATION_ID', 'VONAGE_PRIVATE_KEY'], 'voice');
  // AWS End User Messaging: static credentials of an IAM user allowed sms-voice:SendTextMessage, and the sender.
  need('aws', ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SMS_ORIGINATION_IDENTITY'], 'sms');
  if (routed.voice.has('aws')) problems.push('VOICE_PROVIDER or VOICE_ROUTES names aws: the aws provider sends SMS only');
  // The generic provider's templates: JSON, known placeholders, the recipient and the content placed.
  const form = env.PROVIDER_HTTP_CONTENT_TYPE === 'form';
  for (const channel of ['sms', 'voice'] as const) {
    const name = channel === 'sms' ? 'SMS_HTTP_BODY_TEMPLATE' : 'VOICE_HTTP_BODY_TEMPLATE';
    try {
      parseHttpTemplate(env[name] ?? DEFAULT_HTTP_TEMPLATES[channel], channel, { form, hasFrom: !!env.PROVIDER_HTTP_FROM });
    } catch (err) {
      problems.push(`${env[name] === undefined ? `${name} (unset, so the default template)` : name} ${(err as Error).message}`);
    }
  }
  // Templated settings given without the http provider routed, or receipts without their secret: a half-made set-up.
  const httpSettings = (['SMS_HTTP_BODY_TEMPLATE', 'PROVIDER_HTTP_FROM', 'PROVIDER_HTTP_ERROR_PATH'] as const).filter((n) => env[n] !== undefined);
  if (httpSettings.length > 0 && !routed.all.has('http')) problems.push(`${httpSettings[0]} is set but no list names http: add http to SMS_PROVIDER (with SMS_HTTP_URL)`);
  if (env.PROVIDER_HTTP_RECEIPT_SECRET && !routed.all.has('http')) problems.push('PROVIDER_HTTP_RECEIPT_SECRET is set but no list names http');
  for (const kind of ['SMS', 'VOICE'] as const) {
    if (new Set(env[`${kind}_PROVIDER`].split(',')).size !== env[`${kind}_PROVIDER`].split(',').length) problems.push(`${kind}_PROVIDER names a provider twice`);
  }
  return problems;
}

/** PROVIDER_RATE_LIMITS over the defaults: a voice provider places at most 1 call per second unless told otherwise. */
function rateLimits(env: EnvSchema): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const provider of routedProviders(env).voice) if (provider !== 'console') limits[`${provider}.voice`] = 1;
  for (const part of (env.PROVIDER_RATE_LIMITS ?? '').split(',').filter(Boolean)) {
    const [key, value] = part.split('=');
    limits[key] = Number(value);
  }
  for (const [key, value] of Object.entries(limits)) if (value === 0) delete limits[key];
  return limits;
}
