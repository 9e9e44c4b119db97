import { createHmac, timingSafeEqual } from 'node:crypto';

export interface HttpReceiptSignature {
  secret: string;
  encoding: 'hex' | 'base64';
  toleranceMs: number;
}

/**
 * The generic provider's receipt signature: HMAC-SHA256, keyed with PROVIDER_HTTP_RECEIPT_SECRET, over
 * `<timestamp>.<raw body>`, where the timestamp (unix seconds) travels in its own header; hex or base64, optionally
 * written `sha256=<…>`. The timestamp is signed, so a receipt cannot be replayed outside the tolerance either way.
 */
export function httpReceiptSignature(secret: string, timestamp: string, rawBody: Buffer | string, encoding: 'hex' | 'base64'): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest(encoding);
}

/** `ok`, `stale` (a good-looking request outside the tolerance) or `bad` (missing, malformed or not ours); constant-time compare. */
export function verifyHttpReceipt(
  cfg: HttpReceiptSignature,
  signature: string | undefined,
  timestamp: string | undefined,
  rawBody: Buffer | undefined,
  nowMs: number,
): 'ok' | 'stale' | 'bad' {
  if (typeof signature !== 'string' || typeof timestamp !== 'string' || !rawBody) return 'bad';
  if (!/^\d{9,11}$/.test(timestamp)) return 'bad';
  const given = signature.trim().replace(/^sha256=/i, '');
  const expected = httpReceiptSignature(cfg.secret, timestamp, rawBody, cfg.encoding);
  const a = Buffer.from(cfg.encoding === 'hex' ? given.toLowerCase() : given);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return 'bad';
  return Math.abs(nowMs - Number(timestamp) * 1000) <= cfg.toleranceMs ? 'ok' : 'stale';
}
