import { createHash, timingSafeEqual } from 'node:crypto';
import { randomToken } from '../common/ids';

/**
 * API keys look like `otp_<prefix>_<secret>`: the 12-character prefix is stored in clear to find the key,
 * the whole key only as SHA-256 (keys carry ~238 bits of randomness, so a slow hash adds nothing).
 */
const KEY_PATTERN = /^otp_([A-Za-z0-9]{12})_([A-Za-z0-9]{40})$/;

export interface GeneratedKey {
  key: string;
  prefix: string;
  hash: Buffer;
}

export function generateApiKey(): GeneratedKey {
  const prefix = randomToken(12);
  const key = `otp_${prefix}_${randomToken(40)}`;
  return { key, prefix, hash: hashApiKey(key) };
}

/** A key chosen by the operator (DEV_API_KEY) is stored the same way; its prefix is derived from it. */
export function apiKeyFromString(key: string): GeneratedKey {
  return { key, prefix: lookupPrefix(key), hash: hashApiKey(key) };
}

/** The prefix under which a presented key is looked up: its own, or one derived for operator-chosen keys. */
export function lookupPrefix(key: string): string {
  const m = KEY_PATTERN.exec(key);
  return m ? m[1] : 'x' + createHash('sha256').update(key).digest('hex').slice(0, 11);
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export function keyMatches(presented: string, storedHash: Buffer): boolean {
  const hash = hashApiKey(presented);
  return hash.length === storedHash.length && timingSafeEqual(hash, storedHash);
}
