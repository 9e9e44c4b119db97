import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { HmacKey } from '../config/env.schema';

export interface BoundTransaction {
  amount: string;
  currency: string;
  payee: string;
}

/** A code of `length` digits, each from crypto.randomInt (uniform, no modulo bias). */
export function generateCode(length: number, random: (max: number) => number = randomInt): string {
  let code = '';
  for (let i = 0; i < length; i++) code += String(random(10));
  return code;
}

/** One canonical form, so that "150000" / "150000.00" / "0150000" and "jpy" / "JPY" bind the same transaction. */
export function canonicalTransaction(tx: BoundTransaction | null | undefined): string {
  if (!tx) return '';
  const [int, frac = ''] = tx.amount.split('.');
  const amount = (int.replace(/^0+(?=\d)/, '') || '0') + (frac.replace(/0+$/, '') ? `.${frac.replace(/0+$/, '')}` : '');
  return JSON.stringify([amount, tx.currency.toUpperCase(), tx.payee.normalize('NFC').trim()]);
}

/** HMAC-SHA256 of the code, bound to its verification and, when given, its transaction. */
export function codeHmac(key: HmacKey, verificationId: string, code: string, tx: BoundTransaction | null | undefined): Buffer {
  return createHmac('sha256', key.secret).update(`otp-v1\0${verificationId}\0${code}\0${canonicalTransaction(tx)}`).digest();
}

export function hmacEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
