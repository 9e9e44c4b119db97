import type { CallOutcomeKind } from '../common/events';

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

/**
 * A voice-contract check call (IVR): the provider calls `to`, reads `prompt` and waits for one key. How it
 * ended comes later, through the provider's signed callbacks, as `call.progressed` / `call.completed` events
 * carrying `reference`. Which key was expected is the caller's business: the events report what was pressed.
 */
export interface CheckCall {
  to: string; // E.164
  locale: 'ja' | 'en';
  /** What the call reads out, e.g. 「…確認のため、1を押してください。」 */
  prompt: string;
  /** Ours (a voice-contract check id): it comes back on every event of the call. */
  reference: string;
}

export interface CallPlaced {
  provider: string;
  callId: string;
}

export interface ProviderAccepted {
  provider: string;
  /** null when the provider accepted the message (2xx) but gave no id: it is still sent, never resent. */
  providerMessageId: string | null;
  /**
   * true when nobody knows whether the provider took the message (its request timed out) and the routing
   * was told to wait rather than fail over (PROVIDER_ON_TIMEOUT=wait): nothing more is sent, a late receipt may still come.
   */
  unknown?: boolean;
  /** Each provider tried for this send, in order (set by the router). */
  legs?: ProviderLeg[];
}

/**
 * What became of one provider tried within one send: `accepted`; `retryable` (5xx, 429, connection error: the
 * next provider is tried); `permanent` (invalid number, any other 4xx: nothing else is tried); `unknown` (a
 * timeout: the provider may have taken it); `circuit_open` and `rate_limited` (not called at all).
 */
export type LegOutcome = 'accepted' | 'retryable' | 'permanent' | 'unknown' | 'circuit_open' | 'rate_limited';

export interface ProviderLeg {
  provider: string;
  outcome: LegOutcome;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface ProviderErrorDetails {
  /** The provider asked us to wait this long before calling it again (429 Retry-After). */
  retryAfterMs?: number;
  /** The request may have reached the provider and been accepted (a timeout after it was sent). */
  unknown?: boolean;
  /** Each provider tried (set by the router). */
  legs?: ProviderLeg[];
}

/** A provider error: `retryable` false for answers that will not change (bad number, rejected content). */
export class ProviderError extends Error {
  readonly retryAfterMs?: number;
  readonly unknown: boolean;
  readonly legs?: ProviderLeg[];

  constructor(
    readonly provider: string,
    message: string,
    readonly retryable = true,
    readonly statusCode?: number,
    details: ProviderErrorDetails = {},
  ) {
    super(message);
    this.name = 'ProviderError';
    this.retryAfterMs = details.retryAfterMs;
    this.unknown = details.unknown ?? false;
    this.legs = details.legs;
  }
}

/**
 * The provider refused to place a check call: `outcome` says what that means for the number (`unallocated`:
 * the provider says the number cannot exist; `route_error`: this provider could not route it, another may).
 */
export class CallNotPlaced extends ProviderError {
  constructor(
    provider: string,
    message: string,
    readonly outcome: Extract<CallOutcomeKind, 'unallocated' | 'route_error'>,
    retryable: boolean,
    statusCode?: number,
    /** The provider's own error code (Twilio: 21217…), for the record. */
    readonly providerCode?: number,
    /** As a ProviderError's: `unknown` when the call may have been placed after all (a timeout, a connection lost). */
    details: ProviderErrorDetails = {},
  ) {
    super(provider, message, retryable, statusCode, details);
    this.name = 'CallNotPlaced';
  }
}

export interface SmsGateway {
  readonly name: string;
  send(sms: OutgoingSms): Promise<ProviderAccepted>;
}

export interface VoiceGateway {
  readonly name: string;
  call(call: OutgoingCall): Promise<ProviderAccepted>;
  /** Places an IVR check call; throws CallNotPlaced when the provider refuses it. */
  placeCheckCall(call: CheckCall): Promise<CallPlaced>;
}

export const SMS_GATEWAY = Symbol('SMS_GATEWAY');
export const VOICE_GATEWAY = Symbol('VOICE_GATEWAY');
