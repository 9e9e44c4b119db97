import { createHash } from 'node:crypto';
import type { ParsedPhone } from '../common/phone';
import type { WebhookDestinations } from '../common/webhook-destinations';
import { assertReachable, parseNumberOrProblem } from '../risk/phone-numbers';
import type { BoundTransaction } from './codes';
import type { StartVerificationDto } from './dto/start-verification.dto';

export interface StartInput {
  phone: ParsedPhone;
  channel: 'sms' | 'voice';
  callbackUrl: string | null;
  transaction: BoundTransaction | null;
  /** SHA-256 of the request body in a stable form: what an Idempotency-Key is bound to. */
  requestHash: Buffer;
}

/** The checks of a start request beyond its DTO: the number, its type for the channel, the callback URL (where webhooks may go). */
export function startInput(dto: StartVerificationDto, destinations: WebhookDestinations): StartInput {
  // Parsed and typed by risk's number plan (Japanese numbers by prefix); 400 for what is not a valid number
  // or cannot receive the channel at all. What the client's policy refuses is screening's 403, in the transaction.
  const phone = parseNumberOrProblem(dto.phoneNumber, dto.country);
  const channel = dto.channel ?? 'sms';
  assertReachable(phone, channel);
  return {
    phone,
    channel,
    callbackUrl: dto.callbackUrl ? destinations.assertAllowed('callbackUrl', dto.callbackUrl) : null,
    transaction: dto.transaction ? { amount: dto.transaction.amount, currency: dto.transaction.currency.toUpperCase(), payee: dto.transaction.payee } : null,
    requestHash: createHash('sha256').update(stableJson(dto)).digest(),
  };
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
