import { Transform } from 'class-transformer';
import { isSupportedCountry } from 'libphonenumber-js/max';
import { isIP } from 'node:net';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  Validate,
  ValidatorConstraint,
  ValidatorConstraintInterface,
} from 'class-validator';
import { DOT_PATH, parseStatusList, parseStatusMap } from './http-template';

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
const toBool = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return value;
};

@ValidatorConstraint({ name: 'postgresUrl' })
class PostgresUrl implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      const url = new URL(value);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'must be a URL of the form postgres://user:password@host:5432/database';
  }
}

@ValidatorConstraint({ name: 'redisUrl' })
class RedisUrl implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      const url = new URL(value);
      return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'must be a URL of the form redis://host:6379';
  }
}

/** `kid:secret` pairs separated by commas; each secret at least 32 bytes (hex or base64). */
@ValidatorConstraint({ name: 'hmacKeyList' })
export class HmacKeyList implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      parseHmacKeys(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'must be a comma-separated list of keyId:secret pairs, each key id [A-Za-z0-9_-]{1,32} and each secret at least 32 bytes written as hex or base64 (e.g. k1:$(openssl rand -hex 32))';
  }
}

/** One secret of at least 32 bytes, written as hex or base64. */
@ValidatorConstraint({ name: 'secretKey' })
export class SecretKey implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      parseSecretKey(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'must be a secret of at least 32 bytes written as hex or base64 (e.g. $(openssl rand -hex 32))';
  }
}

/**
 * TRUST_PROXY: `false`; the load balancers' (proxies') addresses and CIDR ranges, comma-separated, whose
 * `X-Forwarded-For` entries are believed, read from the right (a client's own entries, further left, are not); or
 * `true`, every hop: then a client names its own address by sending the header, so only behind a proxy that replaces
 * the header and that nothing can bypass.
 */
export function parseTrustProxy(value: string): boolean | string[] {
  const v = value.trim().toLowerCase();
  if (['false', 'no', 'off', '0', ''].includes(v)) return false;
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  const entries = v.split(',').map((e) => e.trim());
  for (const entry of entries) if (!isAddressOrRange(entry)) throw new Error(`not an address or CIDR range: ${entry}`);
  return entries;
}

/** An IP address, or a CIDR range (`10.20.0.0/16`, `fd12::/48`). */
function isAddressOrRange(entry: string): boolean {
  const cidr = /^([^/]+)\/(\d{1,3})$/.exec(entry);
  if (cidr) return isIP(cidr[1]) !== 0 && Number(cidr[2]) <= (isIP(cidr[1]) === 4 ? 32 : 128);
  return isIP(entry) !== 0;
}

@ValidatorConstraint({ name: 'trustProxy' })
class TrustProxy implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      parseTrustProxy(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'must be false, the addresses and CIDR ranges of the load balancers in front of the service (10.0.0.0/8,192.0.2.7), or true (every hop: only behind a proxy that replaces X-Forwarded-For)';
  }
}

/**
 * WEBHOOK_ALLOWED_DESTINATIONS: comma-separated host names (`bank.internal`, `*.bank.internal` for every
 * name under it), IP addresses and CIDR ranges (`10.20.0.0/16`, `fd12::/48`), lower-cased.
 */
export function parseDestinationList(value: string): string[] {
  const entries = value.split(',').map((part) => part.trim().toLowerCase().replace(/\.$/, '')).filter(Boolean);
  for (const entry of entries) {
    if (!isAddressOrRange(entry) && !HOST_NAME.test(entry)) throw new Error(`not a host name, address or CIDR range: ${entry}`);
  }
  if (entries.length === 0) throw new Error('empty');
  return entries;
}
const HOST_NAME = /^(\*\.)?(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

@ValidatorConstraint({ name: 'destinationList' })
export class DestinationList implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      parseDestinationList(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'must be a comma-separated list of host names (bank.internal, *.bank.internal), IP addresses and CIDR ranges (10.20.0.0/16, fd12::/48)';
  }
}

export const PROVIDER_NAMES = ['console', 'http', 'twilio', 'vonage', 'aws'] as const;
const PROVIDER_LIST = /^(console|http|twilio|vonage|aws)(,(console|http|twilio|vonage|aws))*$/;

/**
 * SMS_ROUTES / VOICE_ROUTES: `81=twilio,vonage;1=vonage`, a provider order per country calling code (1 to 3
 * digits, no +), each provider named once per route.
 */
export function parseRouteList(value: string): Record<string, string[]> {
  const routes: Record<string, string[]> = {};
  for (const part of value.split(';').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d{1,3})=(.+)$/.exec(part);
    if (!m || m[1].startsWith('0')) throw new Error(`not a route: ${part}`);
    const providers = m[2].split(',').map((p) => p.trim());
    if (!providers.every((p) => (PROVIDER_NAMES as readonly string[]).includes(p)) || new Set(providers).size !== providers.length) throw new Error(`bad providers: ${part}`);
    if (routes[m[1]]) throw new Error(`calling code twice: ${m[1]}`);
    routes[m[1]] = providers;
  }
  if (Object.keys(routes).length === 0) throw new Error('empty');
  return routes;
}

@ValidatorConstraint({ name: 'routeList' })
export class RouteList implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      parseRouteList(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'must be country calling codes with the providers to try, in order, e.g. 81=twilio,vonage;1=vonage (providers: console, http, twilio, vonage, aws)';
  }
}

@ValidatorConstraint({ name: 'statusList' })
export class StatusList implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      parseStatusList(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'must be a comma-separated list of HTTP statuses or classes, e.g. 408,429,5xx';
  }
}

@ValidatorConstraint({ name: 'statusMap' })
export class StatusMap implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string') return false;
    try {
      parseStatusMap(value);
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'must be a comma-separated list of theirs=ours, ours one of sent, delivered, undelivered, failed (e.g. DELIVRD=delivered,UNDELIV=undelivered)';
  }
}

/** RISK_ALLOWED_COUNTRIES: comma-separated ISO 3166-1 alpha-2 codes of countries with phone numbers. */
@ValidatorConstraint({ name: 'countryList' })
export class CountryList implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'string' && value.split(',').every((c) => /^[A-Za-z]{2}$/.test(c.trim()) && isSupportedCountry(c.trim().toUpperCase()));
  }
  defaultMessage(): string {
    return 'must be a comma-separated list of ISO 3166-1 alpha-2 country codes with phone numbers (e.g. JP or JP,US)';
  }
}

export function parseSecretKey(raw: string): Buffer {
  const value = raw.trim();
  const secret = /^[0-9a-fA-F]+$/.test(value) && value.length % 2 === 0 ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (secret.length < 32) throw new Error('key too short');
  return secret;
}

export interface HmacKey {
  id: string;
  secret: Buffer;
}

export function parseHmacKeys(value: string): HmacKey[] {
  const keys = value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const sep = part.indexOf(':');
      if (sep <= 0) throw new Error('missing key id');
      const id = part.slice(0, sep);
      const raw = part.slice(sep + 1);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error('bad key id');
      const secret = /^[0-9a-fA-F]+$/.test(raw) && raw.length % 2 === 0 ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
      if (secret.length < 32) throw new Error('key too short');
      return { id, secret };
    });
  if (keys.length === 0) throw new Error('no keys');
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new Error('duplicate key id');
  return keys;
}

/**
 * Every environment variable the service reads, with its default. This class is the single source:
 * the README table and the docker-compose test are checked against it.
 */
export class EnvSchema {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV = 'development';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  @IsString()
  @Validate(TrustProxy)
  TRUST_PROXY = 'false';

  @IsOptional()
  @Validate(PostgresUrl)
  DATABASE_URL?: string;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(200)
  DATABASE_POOL_SIZE = 10;

  /**
   * How long a pooled connection may sit idle before it is closed; 0 (the default) keeps the connections the pool
   * opened. A new connection costs a start-up on the server and its statements prepared again: closing connections
   * after pg's default 10 s idle made every lull followed by a burst wait for new ones (p99 at half load 100–370 ms).
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(86400)
  DATABASE_POOL_IDLE_TIMEOUT_SECONDS = 0;

  /**
   * Run the service's statements as named prepared statements (parsed and planned once per connection). Set false
   * behind a pooler in transaction mode that cannot keep them (PgBouncer before 1.21, or without max_prepared_statements).
   */
  @Transform(toBool)
  @IsBoolean()
  DATABASE_PREPARED_STATEMENTS = true;

  /** Longest a statement may run (PostgreSQL statement_timeout; also a client-side deadline for a frozen server). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600000)
  DATABASE_STATEMENT_TIMEOUT_MS = 5000;

  /** Longest a request waits for a connection: a new one, or a free one from the pool. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60000)
  DATABASE_CONNECT_TIMEOUT_MS = 3000;

  /** At start-up, how long the first connection is retried (with backoff) before the service gives up. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(3600)
  DATABASE_STARTUP_RETRY_SECONDS = 60;

  @Transform(toBool)
  @IsBoolean()
  MIGRATIONS_RUN = true;

  @IsString()
  EMBEDDED_PG_DIR = '.data/postgres';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  EMBEDDED_PG_PORT = 54329;

  @IsOptional()
  @Validate(RedisUrl)
  REDIS_URL?: string;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  THROTTLE_LIMIT = 6000;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  THROTTLE_TTL_SECONDS = 60;

  /** Requests without a valid API key (missing, unknown, revoked) accepted per client IP (an IPv6 address by its /64) per THROTTLE_TTL_SECONDS. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  THROTTLE_AUTH_FAILURES_LIMIT = 60;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(300)
  API_KEY_CACHE_TTL_SECONDS = 5;

  @Transform(toBool)
  @IsBoolean()
  DEV_CLIENT_ENABLED = true;

  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]{32,128}$/, { message: 'DEV_API_KEY must be 32 to 128 characters of [A-Za-z0-9_-]' })
  DEV_API_KEY?: string;

  @IsOptional()
  @Validate(HmacKeyList)
  OTP_HMAC_KEYS?: string;

  @IsString()
  @MinLength(1)
  SERVICE_NAME = 'OTP Verify';

  /**
   * Longest a graceful shutdown may take; longer than PROVIDER_SEND_BUDGET_MS, so that a send failing over between
   * providers when SIGTERM comes can end (production refuses less). The orchestrator's own grace period must exceed it.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  SHUTDOWN_TIMEOUT_MS = 25000;

  // --- delivery (gateway) ---
  /** The SMS providers in the order they are tried (failover), comma-separated. */
  @Matches(PROVIDER_LIST, { message: 'SMS_PROVIDER must be a comma-separated list of console, http, twilio, vonage, aws (tried in that order)' })
  SMS_PROVIDER = 'console';

  @Matches(PROVIDER_LIST, { message: 'VOICE_PROVIDER must be a comma-separated list of console, http, twilio, vonage (tried in that order)' })
  VOICE_PROVIDER = 'console';

  /** Per country calling code, another provider order: `81=twilio,vonage;1=vonage`. */
  @IsOptional()
  @Validate(RouteList)
  SMS_ROUTES?: string;

  @IsOptional()
  @Validate(RouteList)
  VOICE_ROUTES?: string;

  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  SMS_HTTP_URL?: string;

  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  VOICE_HTTP_URL?: string;

  @IsOptional()
  @IsString()
  @MinLength(16)
  PROVIDER_HTTP_TOKEN?: string;

  /** The generic `http` provider's request: method, body encoding, auth header, templates (today's JSON contract by default). */
  @IsIn(['POST', 'PUT'])
  PROVIDER_HTTP_METHOD = 'POST';

  @IsIn(['json', 'form'])
  PROVIDER_HTTP_CONTENT_TYPE = 'json';

  @Matches(/^[A-Za-z0-9-]{1,64}$/, { message: 'PROVIDER_HTTP_AUTH_HEADER must be an HTTP header name, e.g. Authorization or X-API-Key' })
  PROVIDER_HTTP_AUTH_HEADER = 'Authorization';

  /** The auth header's value; `{{token}}` is PROVIDER_HTTP_TOKEN. */
  @Matches(/\{\{token\}\}/, { message: 'PROVIDER_HTTP_AUTH_VALUE must place the token: e.g. "Bearer {{token}}" or "{{token}}"' })
  PROVIDER_HTTP_AUTH_VALUE = 'Bearer {{token}}';

  /** The sender id the templates place as {{from}} (e.g. a shared short code such as 0005, or a registered name). */
  @IsOptional()
  @Matches(/^[A-Za-z0-9+ _.-]{1,20}$/, { message: 'PROVIDER_HTTP_FROM must be a sender id of 1 to 20 letters, digits, +, space, _ . -' })
  PROVIDER_HTTP_FROM?: string;

  /** JSON object templates of the request body (see http-template.ts); unset: {"to","text","reference"} / {"to","speech","locale","reference"}. */
  @IsOptional()
  @IsString()
  SMS_HTTP_BODY_TEMPLATE?: string;

  @IsOptional()
  @IsString()
  VOICE_HTTP_BODY_TEMPLATE?: string;

  /** Where the answer holds the message id (a dot path into its JSON). */
  @Matches(DOT_PATH, { message: 'PROVIDER_HTTP_ID_PATH must be a dot path such as id or data.messages.0.id' })
  PROVIDER_HTTP_ID_PATH = 'id';

  /** Where the answer holds the provider's error code; set, a 2xx answer with a value there is a refusal. */
  @IsOptional()
  @Matches(DOT_PATH, { message: 'PROVIDER_HTTP_ERROR_PATH must be a dot path such as error.code' })
  PROVIDER_HTTP_ERROR_PATH?: string;

  /** Statuses after which the next provider is tried (codes or classes); any other non-2xx is permanent. */
  @Validate(StatusList)
  PROVIDER_HTTP_RETRYABLE_STATUSES = '408,429,5xx';

  /** The `http` provider's signed delivery receipts (POST /v1/callbacks/http/status): the HMAC-SHA256 key; unset, no receipts. */
  @IsOptional()
  @IsString()
  @MinLength(32)
  PROVIDER_HTTP_RECEIPT_SECRET?: string;

  @Matches(/^[A-Za-z0-9-]{1,64}$/, { message: 'PROVIDER_HTTP_RECEIPT_SIGNATURE_HEADER must be an HTTP header name' })
  PROVIDER_HTTP_RECEIPT_SIGNATURE_HEADER = 'X-Signature';

  @Matches(/^[A-Za-z0-9-]{1,64}$/, { message: 'PROVIDER_HTTP_RECEIPT_TIMESTAMP_HEADER must be an HTTP header name' })
  PROVIDER_HTTP_RECEIPT_TIMESTAMP_HEADER = 'X-Timestamp';

  @IsIn(['hex', 'base64'])
  PROVIDER_HTTP_RECEIPT_SIGNATURE_ENCODING = 'hex';

  /** How far a receipt's timestamp may be from now (either way); older or newer ones are refused (replays). */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(3600)
  PROVIDER_HTTP_RECEIPT_TOLERANCE_SECONDS = 300;

  @Matches(DOT_PATH, { message: 'PROVIDER_HTTP_RECEIPT_REFERENCE_PATH must be a dot path' })
  PROVIDER_HTTP_RECEIPT_REFERENCE_PATH = 'reference';

  @Matches(DOT_PATH, { message: 'PROVIDER_HTTP_RECEIPT_ID_PATH must be a dot path' })
  PROVIDER_HTTP_RECEIPT_ID_PATH = 'id';

  @Matches(DOT_PATH, { message: 'PROVIDER_HTTP_RECEIPT_STATUS_PATH must be a dot path' })
  PROVIDER_HTTP_RECEIPT_STATUS_PATH = 'status';

  /** Their receipt statuses onto ours (sent, delivered, undelivered, failed); others are ignored. */
  @Validate(StatusMap)
  PROVIDER_HTTP_RECEIPT_STATUS_MAP = 'sent=sent,delivered=delivered,undelivered=undelivered,failed=failed';

  @Transform(toInt)
  @IsInt()
  @Min(100)
  PROVIDER_TIMEOUT_MS = 5000;

  /** Longest one send may take over all the providers of its route (failover included); then it is retried later. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(120000)
  PROVIDER_SEND_BUDGET_MS = 15000;

  /**
   * A provider's request timed out, so it may have taken the message: `failover` sends it through the next
   * provider (risk: two messages with the same code), `wait` sends nothing more (risk: a code that comes late or never).
   */
  @IsIn(['failover', 'wait'])
  PROVIDER_ON_TIMEOUT = 'failover';

  /** Consecutive failures (5xx, 429, timeouts, connection errors) that open a provider's circuit. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  PROVIDER_CIRCUIT_FAILURES = 5;

  /** How long an open circuit waits before it lets one probe through. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3600000)
  PROVIDER_CIRCUIT_HALF_OPEN_MS = 30000;

  /** Sends per second per provider and channel, across instances: `twilio.voice=1,vonage.voice=3,twilio.sms=30`. */
  @IsOptional()
  @Matches(/^(console|http|twilio|vonage|aws)\.(sms|voice)=\d{1,5}(,(console|http|twilio|vonage|aws)\.(sms|voice)=\d{1,5})*$/, {
    message: 'PROVIDER_RATE_LIMITS must be a comma-separated list of provider.channel=sends per second, e.g. twilio.voice=1,vonage.sms=30',
  })
  PROVIDER_RATE_LIMITS?: string;

  /** Twilio (VOICE_PROVIDER=twilio): the account, its auth token (API Basic auth and callback signatures), the caller number. */
  @IsOptional()
  @Matches(/^AC[0-9a-fA-F]{32}$/, { message: 'TWILIO_ACCOUNT_SID must be AC followed by 32 hexadecimal digits' })
  TWILIO_ACCOUNT_SID?: string;

  @IsOptional()
  @IsString()
  @MinLength(16)
  TWILIO_AUTH_TOKEN?: string;

  @IsOptional()
  @Matches(/^\+[1-9]\d{6,14}$/, { message: 'TWILIO_FROM_NUMBER must be a phone number in E.164 form, e.g. +81312345678' })
  TWILIO_FROM_NUMBER?: string;

  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  TWILIO_API_BASE_URL = 'https://api.twilio.com';

  /** Vonage: API key and secret (Messages API, Basic auth), or an application and its private key (JWT; needed for voice). */
  @IsOptional()
  @Matches(/^[A-Za-z0-9]{6,32}$/, { message: 'VONAGE_API_KEY must be the account\'s API key (letters and digits)' })
  VONAGE_API_KEY?: string;

  @IsOptional()
  @IsString()
  @MinLength(8)
  VONAGE_API_SECRET?: string;

  @IsOptional()
  @Matches(/^[0-9a-fA-F-]{36}$/, { message: 'VONAGE_APPLICATION_ID must be a Vonage application id (a UUID)' })
  VONAGE_APPLICATION_ID?: string;

  /** The application's private key, PEM (newlines may be written as \n). */
  @IsOptional()
  @Matches(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, { message: 'VONAGE_PRIVATE_KEY must be a PEM private key' })
  VONAGE_PRIVATE_KEY?: string;

  /** The account's signature secret: Vonage signs its webhooks (a JWT, HS256) with it. */
  @IsOptional()
  @IsString()
  @MinLength(16)
  VONAGE_SIGNATURE_SECRET?: string;

  @IsOptional()
  @Matches(/^\+[1-9]\d{6,14}$/, { message: 'VONAGE_FROM_NUMBER must be a phone number in E.164 form, e.g. +81312345678' })
  VONAGE_FROM_NUMBER?: string;

  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  VONAGE_API_BASE_URL = 'https://api.nexmo.com';

  /** AWS End User Messaging SMS (SMS_PROVIDER lists aws): region, an IAM user's access key, the origination identity. */
  @IsOptional()
  @Matches(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'AWS_REGION must be an AWS region such as ap-northeast-1' })
  AWS_REGION?: string;

  @IsOptional()
  @Matches(/^[A-Z0-9]{16,128}$/, { message: 'AWS_ACCESS_KEY_ID must be an access key id (AKIA…)' })
  AWS_ACCESS_KEY_ID?: string;

  @IsOptional()
  @IsString()
  @MinLength(16)
  AWS_SECRET_ACCESS_KEY?: string;

  /** The phone number, pool, sender id (or its ARN) messages are sent from. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9_:/+.-]{1,256}$/, { message: 'AWS_SMS_ORIGINATION_IDENTITY must be a phone number, pool id, sender id or ARN' })
  AWS_SMS_ORIGINATION_IDENTITY?: string;

  /** A configuration set: its event destinations (SNS, Firehose, CloudWatch) get the delivery events. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9_:/-]{1,256}$/, { message: 'AWS_SMS_CONFIGURATION_SET must be a configuration set name or ARN' })
  AWS_SMS_CONFIGURATION_SET?: string;

  /** Another endpoint than the region's (tests point it at a fake). */
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  AWS_API_BASE_URL?: string;

  /** The service's address as providers reach it: callback URLs are built on it, and signatures are checked against them. */
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  PUBLIC_CALLBACK_BASE_URL?: string;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(20)
  MESSAGE_MAX_ATTEMPTS = 4;

  @Transform(toInt)
  @IsInt()
  @Min(50)
  OUTBOX_POLL_INTERVAL_MS = 1000;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  WEBHOOK_TIMEOUT_MS = 5000;

  /** Most webhook deliveries in flight at once per client, per instance; rows past it wait a moment, costing no try. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  WEBHOOK_CONCURRENCY_PER_CLIENT = 4;

  /** After a webhook secret rotation, how long the previous secret keeps signing beside the new one. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(720)
  WEBHOOK_SECRET_ROTATION_OVERLAP_HOURS = 24;

  /** Host names, addresses and CIDR ranges webhooks may reach although they are not public (loopback, private…). */
  @IsOptional()
  @Validate(DestinationList)
  WEBHOOK_ALLOWED_DESTINATIONS?: string;

  /** Whether webhooks may go to loopback (localhost, 127.0.0.0/8, ::1); unset: outside production only. */
  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  WEBHOOK_ALLOW_LOOPBACK?: boolean;

  // --- verifications ---
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(20)
  OTP_MAX_ATTEMPTS = 5;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(20)
  OTP_MAX_SENDS = 5;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  OTP_RESEND_COOLDOWN_SECONDS = 30;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  PHONE_SENDS_PER_15_MIN = 5;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  PHONE_SENDS_PER_24_H = 10;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  PHONE_CHECK_FAILURES_PER_HOUR = 10;

  /** ISO 3166-1 alpha-2 countries whose numbers starts may use unless a client's policy says otherwise (comma-separated). */
  @Validate(CountryList)
  RISK_ALLOWED_COUNTRIES = 'JP';

  /** Number types a start may use per channel unless a client's policy says otherwise (comma-separated). */
  @Matches(/^(mobile|m2m)(,(mobile|m2m))*$/, { message: 'RISK_SMS_NUMBER_TYPES must be a comma-separated list of mobile, m2m' })
  RISK_SMS_NUMBER_TYPES = 'mobile';

  @Matches(/^(mobile|fixed_line|voip|m2m)(,(mobile|fixed_line|voip|m2m))*$/, {
    message: 'RISK_VOICE_NUMBER_TYPES must be a comma-separated list of mobile, fixed_line, voip, m2m',
  })
  RISK_VOICE_NUMBER_TYPES = 'mobile,fixed_line';

  /** Whether starts need a voice-contract check unless a client's policy says otherwise: off, prefer or require. */
  @IsIn(['off', 'prefer', 'require'])
  RISK_VOICE_CONTRACT_DEFAULT = 'off';

  /** What a check that found nothing (no key pressed after its retries) means where a contract is required: deny or allow. */
  @IsIn(['deny', 'allow'])
  RISK_VOICE_CONTRACT_ON_UNKNOWN = 'deny';

  /** How checks are made unless a client's policy says otherwise: ivr_outbound (we call) or ivr_inbound (the person calls us). */
  @IsIn(['ivr_outbound', 'ivr_inbound'])
  RISK_VOICE_CONTRACT_METHOD = 'ivr_outbound';

  /** How long a confirmed voice contract is trusted before the number is called again. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  RISK_VOICE_CONTRACT_CONFIRMED_DAYS = 90;

  /** How long a number found without a voice contract stays so before it may be checked again. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  RISK_VOICE_CONTRACT_ABSENT_DAYS = 7;

  /** Calls after the first when nobody pressed the key (no answer, busy, voicemail…), RISK_VOICE_CHECK_RETRY_SECONDS apart. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(5)
  RISK_VOICE_CHECK_RETRIES = 2;
  // --- risk: velocity per end user, prefix and client; pumping; many accounts per number ---
  /** Digits of an E.164 number (without +) that make its prefix, the unit of prefix velocity and pumping (8: 81901234). */
  @Transform(toInt)
  @IsInt()
  @Min(3)
  @Max(14)
  RISK_PREFIX_LENGTH = 8;

  /** The service's home country: pumping rules report it as a whole, never suspend it. */
  @Validate(CountryList)
  @Matches(/^[A-Za-z]{2}$/, { message: 'RISK_HOME_COUNTRY must be one ISO 3166-1 alpha-2 code' })
  RISK_HOME_COUNTRY = 'JP';

  /** Starts per end-user IP (endUser.ip; an IPv6 address counts by its /64) per hour, across clients; 0: no limit. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  RISK_IP_STARTS_PER_HOUR = 10;

  /** Starts per end-user device (endUser.deviceId, per client) per hour; 0: no limit. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  RISK_DEVICE_STARTS_PER_HOUR = 10;

  /** Starts per number prefix (RISK_PREFIX_LENGTH digits) per hour, across clients; 0 (default): no limit. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  RISK_PREFIX_STARTS_PER_HOUR = 0;

  /** Starts per client per hour; 0 (default): no limit (a client's request rate is the throttler's job). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  RISK_CLIENT_STARTS_PER_HOUR = 0;

  /** A number verified for more than this many accounts (endUser.accountRef) or clients in the window trips many_accounts_per_number. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  RISK_MANY_ACCOUNTS_MAX = 3;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  RISK_VOICE_CHECK_RETRY_SECONDS = 120;

  /** The key the check call asks for; only this key confirms. */
  @Matches(/^[0-9]$/, { message: 'RISK_VOICE_CHECK_KEY must be one digit' })
  RISK_VOICE_CHECK_KEY = '1';

  /**
   * How long a check may take before it counts as unknown, and so how long a verification may wait in `screening`
   * (its expiresAt): long enough for the first call and its retries.
   */
  @Transform(toInt)
  @IsInt()
  @Min(60)
  @Max(86400)
  RISK_VOICE_CHECK_WINDOW_SECONDS = 900;

  /** Inbound checks: how long after the start the person's call to RISK_INBOUND_CHECK_NUMBER counts. */
  @Transform(toInt)
  @IsInt()
  @Min(30)
  @Max(3600)
  RISK_INBOUND_CHECK_WINDOW_SECONDS = 120;

  /** Inbound checks: the service's number (E.164) the person calls from their phone; required for ivr_inbound. */
  @IsOptional()
  @Matches(/^\+[1-9]\d{6,14}$/, { message: 'RISK_INBOUND_CHECK_NUMBER must be an E.164 number (+815012345678)' })
  RISK_INBOUND_CHECK_NUMBER?: string;

  /**
   * How often verified codes are folded into the unit counters (risk_approvals → risk_unit_counts, risk_unit_days), by
   * one instance at a time: the pumping rules see an approval's verified volume at most this late (plus the fold).
   */
  @Transform(toInt)
  @IsInt()
  @Min(50)
  @Max(60_000)
  RISK_APPROVALS_FOLD_INTERVAL_MS = 1000;

  /** The window of the many-accounts rule. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(365)
  RISK_MANY_ACCOUNTS_WINDOW_DAYS = 30;

  /** What many_accounts_per_number decides: `screen` (a voice-contract check first, 202 screening) or `deny` (403). */
  @IsIn(['screen', 'deny'])
  RISK_MANY_ACCOUNTS_ACTION = 'screen';

  /** What a tripped pumping rule does for a client whose policy does not say: `enforce` (suspend) or `record_only`. */
  @IsIn(['enforce', 'record_only'])
  RISK_PUMPING_MODE = 'enforce';

  /** Unverified codes per unit in 24 hours that never trip the daily pumping rule, whatever the unit's volume. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  RISK_PUMPING_DAILY_FLOOR = 20;

  /** The same floor for the hourly pumping rule. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  RISK_PUMPING_HOURLY_FLOOR = 10;

  /** Unverified codes a unit may have relative to its own verified volume (0.2: a fifth of it). */
  @Matches(/^(0(\.\d{1,4})?|1(\.0{1,4})?)$/, { message: 'RISK_PUMPING_RATIO must be a decimal number from 0 to 1, such as 0.2' })
  RISK_PUMPING_RATIO = '0.2';

  /** How long a tripped unit stays suspended. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(720)
  RISK_SUSPENSION_HOURS = 12;

  /** Key of the HMAC that stores endUser.accountRef and deviceId (≥ 32 bytes, hex or base64); unset: derived from the first OTP_HMAC_KEYS key. */
  @IsOptional()
  @Validate(SecretKey)
  RISK_END_USER_HASH_KEY?: string;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  EXPIRY_SWEEP_INTERVAL_MS = 5000;

  @IsOptional()
  @Matches(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i, { message: 'WEBOTP_DOMAIN must be a domain name such as bank.example.jp' })
  WEBOTP_DOMAIN?: string;

  // --- audit ---
  /** Key of the HMAC that stores phone numbers in audit events (searchable, not readable). Required in production. */
  @IsOptional()
  @Validate(SecretKey)
  AUDIT_PHONE_HASH_KEY?: string;

  /** Whether this instance runs the audit sequencer (several may: an advisory lock lets one work at a time). */
  @Transform(toBool)
  @IsBoolean()
  AUDIT_SEQUENCER_ENABLED = true;

  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(60000)
  AUDIT_SEQUENCER_INTERVAL_MS = 200;

  /**
   * Most events chained in one sequencer transaction. A backlog (after a pause) is chained batch after batch;
   * each batch's reading and writing hold the event loop in proportion to its size (a 5,000-event batch held it
   * 22–26 ms even with its hashing in slices; 1,000: 10–12 ms, catching up at 44,000–49,000 events/s against
   * 45,000–56,000; docs/performance-log.md).
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100000)
  AUDIT_SEQUENCER_BATCH_SIZE = 1000;

  /**
   * An audit export whose reader stops reading for this long is ended: it holds a pool connection and a snapshot (which
   * holds back VACUUM) while it waits. An instance runs a quarter of DATABASE_POOL_SIZE exports at a time (at least 1).
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  AUDIT_EXPORT_IDLE_TIMEOUT_SECONDS = 60;

  /** Archive and delete chained audit events older than this many days; 0 keeps everything (the default). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  AUDIT_RETENTION_DAYS = 0;

  @IsString()
  @MinLength(1)
  AUDIT_ARCHIVE_DIR = '.data/audit-archive';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  AUDIT_RETENTION_INTERVAL_SECONDS = 3600;

  // --- housekeeping (database: one scheduler; each owner module prunes its own tables) ---

  /** Whether this instance takes part in pruning spent operational rows (an advisory lock lets one instance at a time work). */
  @Transform(toBool)
  @IsBoolean()
  HOUSEKEEPING_ENABLED = true;

  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(86400)
  HOUSEKEEPING_INTERVAL_SECONDS = 600;

  /** Rows per DELETE (each its own short transaction). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(50000)
  HOUSEKEEPING_BATCH_SIZE = 5000;

  /** Final verifications (approved, expired, locked, canceled, denied, failed) are deleted this many days after they were created; the audit trail keeps the facts. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  VERIFICATION_RETENTION_DAYS = 90;

  /** Finished outbox rows (sent, failed or superseded messages and webhooks), their attempts and ended voice calls are deleted this many days after they were created. */
  @Transform(toInt)
  @IsInt()
  @Min(3)
  @Max(3650)
  OUTBOX_RETENTION_DAYS = 7;

  /**
   * How far V8 lets the heap grow past what the last full collection kept, in percent (V8's --heap-growing-percent):
   * 20 keeps a busy instance's memory near what it uses, at the cost of more frequent collections. 0 leaves V8's
   * own growth heuristics (which let the heap double or more under load).
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(400)
  HEAP_GROWTH_PERCENT = 20;

  /**
   * V8's allocation-site pretenuring (--allocation-site-pretenuring): off by default. Under steady load V8 took sites
   * whose objects a burst had kept alive and allocated everything from them in the old heap, where even a
   * request's short-lived objects then waited for a full collection: one every ~3 s at 150 starts/s, each a
   * cluster of late answers. Off, one every ~18 s (docs/performance-log.md).
   */
  @Transform(toBool)
  @IsBoolean()
  HEAP_PRETENURING = false;

  /** Worker processes behind one port (node:cluster): a number, or `auto` for one per CPU. 1 runs no cluster. */
  @Matches(/^(auto|[1-9][0-9]{0,2})$/, { message: 'WORKERS must be a whole number from 1 to 999, or auto (one worker per CPU)' })
  WORKERS = '1';
}

export const ENV_VARIABLES: readonly string[] = Object.keys(new EnvSchema()).concat(
  // optional variables have no initializer, so list them explicitly
  ['DATABASE_URL', 'REDIS_URL', 'DEV_API_KEY', 'OTP_HMAC_KEYS', 'SMS_HTTP_URL', 'VOICE_HTTP_URL', 'PROVIDER_HTTP_TOKEN', 'WEBOTP_DOMAIN', 'AUDIT_PHONE_HASH_KEY',
    'WEBHOOK_ALLOWED_DESTINATIONS', 'WEBHOOK_ALLOW_LOOPBACK', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM_NUMBER', 'PUBLIC_CALLBACK_BASE_URL',
    'RISK_END_USER_HASH_KEY',
    'SMS_ROUTES', 'VOICE_ROUTES', 'PROVIDER_RATE_LIMITS', 'VONAGE_API_KEY', 'VONAGE_API_SECRET', 'VONAGE_APPLICATION_ID', 'VONAGE_PRIVATE_KEY',
    'VONAGE_SIGNATURE_SECRET', 'VONAGE_FROM_NUMBER', 'PROVIDER_HTTP_FROM', 'SMS_HTTP_BODY_TEMPLATE', 'VOICE_HTTP_BODY_TEMPLATE', 'PROVIDER_HTTP_ERROR_PATH',
    'PROVIDER_HTTP_RECEIPT_SECRET', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SMS_ORIGINATION_IDENTITY', 'AWS_SMS_CONFIGURATION_SET', 'AWS_API_BASE_URL'],
);
