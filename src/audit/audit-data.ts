import { NestedRefusal } from './audit-chain';

/**
 * What may go into an event's `data`. Codes, API keys and provider secrets never belong in the audit
 * trail (ARCHITECTURE.md), so `record()` refuses, loudly, data that looks like one: a key named like a
 * secret anywhere in the object, or a string shaped like one of our API keys or webhook secrets.
 * A refused event is a programming error in the caller, caught by its tests, never a silent drop.
 */
export class AuditDataRefused extends Error {
  constructor(readonly path: string, reason: string) {
    super(`audit event data refused at "${path}": ${reason}`);
    this.name = 'AuditDataRefused';
  }
}

export const MAX_DATA_BYTES = 16 * 1024;

/** Words that make a key secret wherever they appear in it (`webhookSecret`, `access_token`, `otpDigits`). */
const SECRET_WORDS = new Set(['otp', 'otps', 'secret', 'secrets', 'token', 'tokens', 'password', 'passwords', 'passwd', 'passcode', 'passphrase', 'pin', 'plaintext', 'apikey', 'credential', 'credentials']);
/** Words that make a following `code` secret (`verificationCode`), unlike `countryCode` or `errorCode`. */
const CODE_QUALIFIERS = new Set(['verification', 'otp', 'auth', 'authentication', 'security', 'confirmation', 'sms', 'voice', 'access', 'login', 'time', 'plain', 'pass', 'one']);
const SECRET_PAIRS = [
  ['api', 'key'],
  ['private', 'key'],
  ['secret', 'key'],
  ['auth', 'key'],
];

/** `apiKey`, `api_key`, `API-KEY`, `otpCode` → lower-case words. */
export function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Verdicts on key names seen (the keys come from code, so they are few): each name is split into words once. */
const verdicts = new Map<string, boolean>();

export function isSecretKeyName(key: string): boolean {
  let secret = verdicts.get(key);
  if (secret === undefined) {
    secret = judgeKeyName(key);
    if (verdicts.size < 10_000) verdicts.set(key, secret);
  }
  return secret;
}

function judgeKeyName(key: string): boolean {
  const words = keyWords(key);
  if (words.length === 0) return false;
  const joined = words.join('');
  if (joined === 'code' || joined === 'codes' || joined === 'key' || joined === 'apikey') return true;
  for (const [i, w] of words.entries()) {
    if (SECRET_WORDS.has(w)) return true;
    if ((w === 'code' || w === 'codes') && i > 0 && CODE_QUALIFIERS.has(words[i - 1])) return true;
    if (SECRET_PAIRS.some(([a, b]) => w === a && words[i + 1] === b)) return true;
  }
  return false;
}

/** Values shaped like our own secrets: API keys (`otp_<12>_<40>`) and webhook secrets (`whsec_…`). */
const SECRET_VALUE = /otp_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}|whsec_[A-Za-z0-9]{16,}/;

/**
 * Checks `data` and returns it as plain JSON (Dates become ISO strings, undefined properties are
 * dropped), or throws AuditDataRefused.
 */
export function sanitizeAuditData(data: Record<string, unknown> | undefined): Record<string, unknown> {
  if (data === undefined || data === null) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new AuditDataRefused('', 'data must be a plain object');
  let clean: Record<string, unknown>;
  try {
    clean = normalize(data) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof NestedRefusal) throw new AuditDataRefused(err.path, err.reason);
    throw err;
  }
  // normalize() leaves only JSON values, and their canonical text (canonicalJson) differs from JSON.stringify's only
  // in key order: the same bytes, so the same size.
  if (Buffer.byteLength(JSON.stringify(clean), 'utf8') > MAX_DATA_BYTES) throw new AuditDataRefused('', `data is larger than ${MAX_DATA_BYTES} bytes`);
  return clean;
}

/** Plain JSON of `value`, or a NestedRefusal (its path is put together on the way out: none is built otherwise). */
function normalize(value: unknown): unknown {
  if (value === null) return null;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new NestedRefusal('invalid date');
    return value.toISOString();
  }
  if (typeof value === 'string') {
    if (SECRET_VALUE.test(value)) throw new NestedRefusal('the value looks like an API key or a webhook secret');
    if (value.includes('\u0000')) throw new NestedRefusal('NUL characters cannot be stored');
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new NestedRefusal(`${value} is not a JSON number`);
    return value;
  }
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((v, i) => (v === undefined ? null : NestedRefusal.member(normalize, i, v)));
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new NestedRefusal(`a ${proto?.constructor?.name ?? 'non-plain'} object is not JSON`);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (isSecretKeyName(k)) {
        const refusal = new NestedRefusal('the key is named like a code, API key, token, password or secret');
        refusal.steps.push(k);
        throw refusal;
      }
      if (v === undefined) continue;
      out[k] = NestedRefusal.member(normalize, k, v);
    }
    return out;
  }
  throw new NestedRefusal(`a ${typeof value} is not JSON`);
}
