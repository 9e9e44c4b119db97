import { createHash } from 'node:crypto';
import { InvalidPhoneNumber, ParsedPhone, parsePhone } from '../common/phone';
import { ProblemException } from '../common/problem';
import type { WebhookDestinations } from '../common/webhook-destinations';
import type { BoundTransaction } from './codes';
import type { StartVerificationDto } from './dto/start-verification.dto';

const SMS_TYPES = ['mobile', 'fixed_line_or_mobile'];
const VOICE_TYPES = ['mobile', 'fixed_line', 'fixed_line_or_mobile'];

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
  const phone = parseOrProblem(dto.phoneNumber, dto.country);
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

/** SMS needs a mobile number; a call, a number that can take one. */
export function assertReachable(phone: ParsedPhone, channel: 'sms' | 'voice'): void {
  if (!(channel === 'sms' ? SMS_TYPES : VOICE_TYPES).includes(phone.numberType)) {
    throw new ProblemException(400, 'unsupported_number_type', `A ${phone.numberType.replace(/_/g, ' ')} number cannot receive ${channel === 'sms' ? 'SMS' : 'calls'}.`, {
      numberType: phone.numberType,
    });
  }
}

function parseOrProblem(input: string, country?: string): ParsedPhone {
  try {
    return parsePhone(input, country);
  } catch (err) {
    if (err instanceof InvalidPhoneNumber) {
      throw new ProblemException(400, 'invalid_phone_number', `phoneNumber ${err.reason}.`, { errors: [{ field: 'phoneNumber', message: `phoneNumber ${err.reason}` }] });
    }
    throw err;
  }
}
