import type { AuditEventInput } from '../audit/audit.service';
import { SecretBox } from '../common/secret-box';
import type { CallOutcome } from '../common/events';
import type { ScriptedDelivery } from '../common/test-numbers';
import type { Tx } from '../common/tx';
import type { ProviderAccepted, ProviderLeg } from './ports';

export type OutboxKind = 'sms' | 'voice' | 'webhook' | 'check_call';
/** Every kind, once (the compiler checks the set against the type). */
const KINDS: Record<OutboxKind, true> = { sms: true, voice: true, webhook: true, check_call: true };
export const OUTBOX_KINDS = Object.keys(KINDS) as OutboxKind[];

/** An outbox row as the dispatcher works on it. */
export interface OutboxRow {
  id: string;
  kind: OutboxKind;
  verification_id: string | null;
  client_id: string | null;
  payload: Buffer | null;
  attempts: number;
  max_attempts: number;
  segments: number | null;
  /** When the row was queued (the start or resend request): for the accept-delay metric. */
  created_at?: Date;
}

/** The plaintext of a code message, sealed in its row until it is sent. */
export interface MessagePayload {
  to: string;
  body: string;
  locale: 'ja' | 'en';
  /** A test number's message: sent by no provider; what its delivery does next (null: nothing after `sent`). */
  test?: { deliveryStatus: ScriptedDelivery | null };
}

/** The plaintext of a voice-contract check call, sealed in its row until the call is placed. */
export interface CheckCallPayload {
  to: string;
  locale: 'ja' | 'en';
  prompt: string;
  /** The check's id: it comes back on the call's events. */
  reference: string;
  /** A test number's check call: placed with no provider, it ends this way. */
  test?: CallOutcome;
}

/**
 * The plaintext of a result webhook, sealed in its row until it is delivered. The signing secrets are read
 * at each try (a retry after a rotation signs with the new secret); `secret` is only in rows queued before.
 */
export interface WebhookPayload {
  url: string;
  secret?: string;
  body: string;
  eventId: string;
  type: string;
}

/** One try and 11 retries, about three days apart in all (WebhookSender.backoffSeconds). */
export const WEBHOOK_MAX_ATTEMPTS = 12;

/**
 * The result of one try. `to` is the E.164 number of a code message, for its audit event (stored there
 * only hashed and masked); it is never written anywhere else. `refusal`: a webhook whose destination was refused.
 */
export type Outcome =
  | {
      ok: true;
      accepted?: ProviderAccepted;
      statusCode?: number;
      to?: string;
      /** Work the sender wants done once the row is recorded done (a test number's scripted receipt or call): run by the dispatcher. */
      followUp?: () => Promise<unknown>;
      /** A webhook about a test number's verification: its audit event is marked as test too. */
      test?: boolean;
    }
  | {
      ok: false;
      error: string;
      retryable: boolean;
      statusCode?: number;
      provider?: string;
      to?: string;
      refusal?: WebhookRefusal;
      /** Every provider tried (a routed send); recorded one row each. */
      legs?: ProviderLeg[];
      /** The next try should not come sooner (every provider of the route answered 429 with Retry-After). */
      retryAfterMs?: number;
      /** A check call the provider would not place: what that means for the number. */
      callOutcome?: 'unallocated' | 'route_error';
      /** A webhook about a test number's verification: its audit event is marked as test too. */
      test?: boolean;
    };

/** A webhook not sent because its destination is refused (the reason and host only: for its audit event). */
export interface WebhookRefusal {
  reason: string;
  host: string | null;
}

export type Failure = Extract<Outcome, { ok: false }>;

/** Seals outbox payloads (AES-256-GCM, keys derived from OTP_HMAC_KEYS). One instance per application. */
export class OutboxBox extends SecretBox {}

/**
 * One sender per outbox kind: how a row of that kind is sent, how long to wait between tries, what its
 * audit events say, and what happens in the transaction that gives it up for good.
 */
export interface OutboxSender {
  readonly kinds: readonly OutboxKind[];
  /** Seconds to wait before try n+1 (index n-1); the last value repeats. */
  readonly backoffSeconds: readonly number[];
  /** When given, the wait before try `attempt`+1 instead of backoffSeconds (e.g. jittered, or a provider's Retry-After). */
  retryDelayMs?(attempt: number, outcome: Failure): number;
  send(row: OutboxRow & { payload: Buffer }): Promise<Outcome>;
  /** The audit event of a success or a final failure (actor and ids are filled in by the dispatcher). */
  auditEvent(row: OutboxRow, outcome: Outcome): Pick<AuditEventInput, 'type' | 'data' | 'phoneNumber'>;
  /** Runs inside the transaction that marks the row failed for good (e.g. publishes message.failed). */
  onGivenUp?(tx: Tx, row: OutboxRow & { payload: Buffer | null }, now: Date, outcome: Failure): Promise<void>;
}

export const OUTBOX_SENDERS = Symbol('OUTBOX_SENDERS');
