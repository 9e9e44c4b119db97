import { InvalidPhoneNumber, NumberType, ParsedPhone, REACHABLE_NUMBER_TYPES, readPhone } from '../common/phone';
import { ProblemException } from '../common/problem';
import { classifyJapaneseNumber } from './jp-numbers';

export type Channel = 'sms' | 'voice';

/**
 * A number as screening sees it: E.164, its country and its type. Japanese numbers (+81) are typed by
 * their national prefix (jp-numbers.ts); others by libphonenumber. InvalidPhoneNumber when it is not a valid
 * number.
 */
export function parseNumber(input: string, country?: string): ParsedPhone {
  const read = readPhone(input, country);
  if (read.callingCode === '81') {
    const jp = classifyJapaneseNumber(read.nationalNumber, read.valid && read.numberType === 'fixed_line');
    if (!jp.valid) throw new InvalidPhoneNumber(jp.reason);
    return { e164: read.e164, country: 'JP', numberType: jp.numberType };
  }
  if (!read.valid) throw new InvalidPhoneNumber('is not a valid number for its country');
  return { e164: read.e164, country: read.country, numberType: read.numberType };
}

/** parseNumber, with 400 `invalid_phone_number` (problem+json naming `field`) for what is not a valid number. */
export function parseNumberOrProblem(input: string, country: string | undefined, field = 'phoneNumber'): ParsedPhone {
  try {
    return parseNumber(input, country);
  } catch (err) {
    if (err instanceof InvalidPhoneNumber) {
      throw new ProblemException(400, 'invalid_phone_number', `${field} ${err.reason}.`, { errors: [{ field, message: `${field} ${err.reason}` }] });
    }
    throw err;
  }
}

/**
 * 400 `unsupported_number_type` when no number of this type can receive the channel (a fixed line takes no
 * SMS; a toll-free, navi-dial or premium number reaches no person). What a number could receive but the
 * client's policy refuses (an 020 M2M SIM, an 050 IP phone for calls) is a screening decision instead:
 * 403 `risk_denied` with `number_type_not_allowed` (RiskService).
 */
export function assertReachable(phone: ParsedPhone, channel: Channel): void {
  if (!(REACHABLE_NUMBER_TYPES[channel] as readonly NumberType[]).includes(phone.numberType)) {
    throw new ProblemException(400, 'unsupported_number_type', `A ${phone.numberType.replace(/_/g, ' ')} number cannot receive ${channel === 'sms' ? 'SMS' : 'calls'}.`, {
      numberType: phone.numberType,
    });
  }
}

/** Whether a policy's list of types for a channel admits this type (`fixed_line_or_mobile`: mobile for SMS, either for calls). */
export function numberTypeAllowed(type: NumberType, allowed: readonly string[], channel: Channel): boolean {
  if (allowed.includes(type)) return true;
  if (type === 'fixed_line_or_mobile') return allowed.includes('mobile') || (channel === 'voice' && allowed.includes('fixed_line'));
  return false;
}
