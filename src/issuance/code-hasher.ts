import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import type { HmacKey } from '../config/env.schema';
import { BoundTransaction, codeHmac, hmacEquals } from './codes';

/**
 * The key ring of code HMACs (OTP_HMAC_KEYS): new codes are stored under the newest key, with its id, and a
 * code is checked under the key its verification was stored with, so rotation keeps pending codes valid.
 */
@Injectable()
export class CodeHasher {
  private readonly keys: Map<string, HmacKey>;
  private readonly current: HmacKey;

  constructor(config: AppConfig) {
    const ring = config.issuance.hmacKeys;
    this.keys = new Map(ring.map((k) => [k.id, k]));
    this.current = ring[ring.length - 1];
  }

  /** The stored form of a new code: its HMAC under the newest key, and that key's id. */
  hash(verificationId: string, code: string, tx: BoundTransaction | null): { hmac: Buffer; keyId: string } {
    return { hmac: codeHmac(this.current, verificationId, code, tx), keyId: this.current.id };
  }

  /** Constant-time: whether `code` (with the transaction presented) is the stored one. */
  matches(stored: { id: string; codeKeyId: string; codeHmac: Buffer }, code: string, tx: BoundTransaction | null): boolean {
    const key = this.keys.get(stored.codeKeyId);
    return !!key && hmacEquals(codeHmac(key, stored.id, code, tx), stored.codeHmac);
  }
}
