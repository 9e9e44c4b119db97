import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { HmacKey } from '../config/env.schema';

/**
 * AES-256-GCM for the short-lived plaintext the outbox must hold until a message is sent (the message
 * text with its code, a webhook's signing secret). Keys are derived from OTP_HMAC_KEYS with HKDF; the
 * key id travels with the ciphertext so rotation keeps pending rows readable.
 * Layout: [1 byte key-id length][key id][12 byte IV][16 byte tag][ciphertext].
 */
export class SecretBox {
  private readonly keys = new Map<string, Buffer>();
  private readonly current: string;

  constructor(keys: HmacKey[]) {
    for (const k of keys) this.keys.set(k.id, Buffer.from(hkdfSync('sha256', k.secret, Buffer.alloc(0), 'otp-verify outbox v1', 32)));
    this.current = keys[keys.length - 1].id;
  }

  seal(plain: unknown): Buffer {
    const kid = Buffer.from(this.current, 'utf8');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.current) as Buffer, iv);
    const ct = Buffer.concat([cipher.update(JSON.stringify(plain), 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([kid.length]), kid, iv, cipher.getAuthTag(), ct]);
  }

  open<T>(sealed: Buffer): T {
    const len = sealed[0];
    const kid = sealed.subarray(1, 1 + len).toString('utf8');
    const key = this.keys.get(kid);
    if (!key) throw new Error(`outbox payload sealed with unknown key id ${kid}`);
    const iv = sealed.subarray(1 + len, 13 + len);
    const tag = sealed.subarray(13 + len, 29 + len);
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(sealed.subarray(29 + len)), decipher.final()]).toString('utf8');
    return JSON.parse(plain) as T;
  }
}
