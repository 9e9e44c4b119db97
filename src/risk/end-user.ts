import { createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';

/** The optional end-user signals of a start (API.md: `endUser`), as the caller sent them. */
export interface EndUserSignals {
  ip?: string;
  deviceId?: string;
  accountRef?: string;
}

/**
 * Keyed hashes of the end-user signals that must not be stored as given: the caller's account reference and
 * the device id. Each is bound to the client (two clients' `acct-1234` are two accounts), under
 * RISK_END_USER_HASH_KEY or a key derived from OTP_HMAC_KEYS. The plaintext goes nowhere: not to the
 * database, the logs or the audit trail.
 */
@Injectable()
export class EndUserHasher {
  private readonly key: Buffer;

  constructor(config: AppConfig) {
    this.key = config.risk.endUserHashKey;
  }

  accountRef(clientId: string, accountRef: string): Buffer {
    return this.hash('account', clientId, accountRef);
  }

  /** A device as a velocity unit: 32 hex digits. */
  device(clientId: string, deviceId: string): string {
    return this.hash('device', clientId, deviceId).subarray(0, 16).toString('hex');
  }

  private hash(what: string, clientId: string, value: string): Buffer {
    return createHmac('sha256', this.key).update(`${what}\u0000${clientId}\u0000${value}`).digest();
  }
}
