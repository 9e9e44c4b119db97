/** What the outside world needs to deliver a code: one small interface per capability. */
export interface OutgoingSms {
  to: string; // E.164
  body: string;
  /** Our outbox id: providers that accept a client reference get it, for receipts. */
  reference: string;
  /** The API client the message is sent for: the console provider's dev inbox shows each client only its own. Not sent to providers. */
  clientId?: string | null;
}

export interface OutgoingCall {
  to: string;
  /** What the IVR reads out. */
  speech: string;
  locale: 'ja' | 'en';
  reference: string;
  /** As OutgoingSms.clientId. */
  clientId?: string | null;
}

export interface ProviderAccepted {
  provider: string;
  /** null when the provider accepted the message (2xx) but gave no id: it is still sent, never resent. */
  providerMessageId: string | null;
}

/** A provider error: `retryable` false for answers that will not change (bad number, rejected content). */
export class ProviderError extends Error {
  constructor(
    readonly provider: string,
    message: string,
    readonly retryable = true,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export interface SmsGateway {
  readonly name: string;
  send(sms: OutgoingSms): Promise<ProviderAccepted>;
}

export interface VoiceGateway {
  readonly name: string;
  call(call: OutgoingCall): Promise<ProviderAccepted>;
}

export const SMS_GATEWAY = Symbol('SMS_GATEWAY');
export const VOICE_GATEWAY = Symbol('VOICE_GATEWAY');
