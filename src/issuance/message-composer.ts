import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import type { BoundTransaction } from './codes';
import { renderMessage } from './message-text';
import { countSegments } from './segments';

/** The text of a code message in the verification's channel and locale, and its SMS segment count. */
@Injectable()
export class MessageComposer {
  constructor(private readonly config: AppConfig) {}

  compose(
    v: { channel: 'sms' | 'voice'; locale: 'ja' | 'en'; ttlSeconds: number; purpose: string; transaction: BoundTransaction | null },
    code: string,
  ): { body: string; segments: number | null } {
    const body = renderMessage({
      channel: v.channel,
      locale: v.locale,
      serviceName: this.config.issuance.serviceName,
      code,
      ttlSeconds: v.ttlSeconds,
      purpose: v.purpose,
      transaction: v.transaction,
      webOtpDomain: v.channel === 'sms' ? this.config.issuance.webOtpDomain : undefined,
    });
    return { body, segments: v.channel === 'sms' ? countSegments(body).segments : null };
  }
}
