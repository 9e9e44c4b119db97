import { Injectable, Logger } from '@nestjs/common';
import { ProblemException } from '../common/problem';
import { AppConfig } from '../config/app-config';
import type { HmacKey } from '../config/env.schema';
import { BoundTransaction, codeHmac, hmacEquals } from './codes';

/**
 * The key ring of code HMACs (OTP_HMAC_KEYS): new codes are stored under the newest key, with its id, and a
 * code is checked under the key its verification was stored with, so rotation keeps pending codes valid.
 */
@Injectable()
export class CodeHasher {
  private readonly logger = new Logger(CodeHasher.name);
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

  /**
   * Constant-time: whether `code` (with the transaction presented) is the stored one. A code stored under a key this
   * instance does not hold cannot be judged here (another instance of a rotation being rolled out may hold it): that is
   * a 503 that costs the person no attempt, not a wrong code.
   */
  matches(stored: { id: string; codeKeyId: string; codeHmac: Buffer }, code: string, tx: BoundTransaction | null): boolean {
    const key = this.keys.get(stored.codeKeyId);
    if (!key) {
      this.logger.error(
        { verificationId: stored.id, codeKeyId: stored.codeKeyId, keys: [...this.keys.keys()] },
        `code key ${stored.codeKeyId} of a pending verification is not in OTP_HMAC_KEYS here: its codes cannot be checked by this instance (list a new key first, not last, until every instance has it; remove an old one only once codes under it have expired)`,
      );
      throw new ProblemException(
        503,
        'service_unavailable',
        `This instance does not hold the code key (${stored.codeKeyId}) the verification's code was stored under; nothing was counted. Retry after the time in Retry-After.`,
        { headers: { 'Retry-After': '5' } },
      );
    }
    return hmacEquals(codeHmac(key, stored.id, code, tx), stored.codeHmac);
  }
}
