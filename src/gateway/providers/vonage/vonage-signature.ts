import { createHash, timingSafeEqual } from 'node:crypto';
import type * as VonageJwt from '@vonage/jwt';

/** @vonage/jwt, required at the first webhook: only instances configured for Vonage mount the controllers that call this. */
let jwt: typeof VonageJwt | undefined;

/**
 * Vonage's signed webhooks (https://developer.vonage.com/en/getting-started/concepts/webhooks#validating-signed-webhooks):
 * `Authorization: Bearer <JWT>`, signed HS256 with the account's signature secret, whose `payload_hash` claim is
 * the SHA-256 (hex) of the raw body. The signature is checked with Vonage's own library (@vonage/jwt), the hash
 * here, over the bytes we received. A replay of a genuine webhook is harmless: receipts only move messages forward.
 * With `applicationId` (call events, which Vonage sends for an application), a token whose `application_id` claim
 * names another application of the account (which shares the signature secret) is refused too.
 */
export function isValidVonageSignature(signatureSecret: string, authorization: string | undefined, rawBody: Buffer | undefined, applicationId?: string): boolean {
  const token = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(authorization ?? '')?.[1];
  if (!token || !rawBody) return false;
  jwt ??= require('@vonage/jwt') as typeof VonageJwt;
  try {
    if (!jwt.verifySignature(token, signatureSecret)) return false;
    const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')) as { alg?: unknown };
    if (header.alg !== 'HS256') return false; // the signature secret signs HS256 only; never a key-confusion RS256
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as { payload_hash?: unknown; application_id?: unknown };
    if (typeof claims.payload_hash !== 'string') return false;
    if (applicationId !== undefined && claims.application_id !== undefined && claims.application_id !== applicationId) return false;
    const expected = Buffer.from(createHash('sha256').update(rawBody).digest('hex'));
    const given = Buffer.from(claims.payload_hash.toLowerCase());
    return given.length === expected.length && timingSafeEqual(given, expected);
  } catch {
    return false;
  }
}
