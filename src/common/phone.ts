import { CountryCode, parsePhoneNumberWithError, ParseError } from 'libphonenumber-js/max';

export type NumberType =
  | 'mobile'
  | 'fixed_line'
  | 'fixed_line_or_mobile'
  | 'voip'
  /** Machine-to-machine / data SIMs (Japan's 020). */
  | 'm2m'
  | 'toll_free'
  | 'premium_rate'
  | 'shared_cost'
  | 'personal'
  | 'pager'
  | 'uan'
  | 'voicemail'
  | 'unknown';

/**
 * The number types a channel can reach at all: what a number of another type cannot receive whatever the
 * policy says (a fixed line takes no SMS, a toll-free or premium number reaches no person). A client's policy
 * (`numberTypes`) chooses among these; `fixed_line_or_mobile` (numbering plans that cannot tell them apart,
 * e.g. +1) counts as mobile for SMS and as either for calls.
 */
export const REACHABLE_NUMBER_TYPES = {
  sms: ['mobile', 'fixed_line_or_mobile', 'm2m'],
  voice: ['mobile', 'fixed_line', 'fixed_line_or_mobile', 'voip', 'm2m'],
} as const satisfies Record<'sms' | 'voice', readonly NumberType[]>;

/** The types a client's policy may list per channel (API.md, Admin: `numberTypes`). */
export const POLICY_NUMBER_TYPES = {
  sms: ['mobile', 'm2m'],
  voice: ['mobile', 'fixed_line', 'voip', 'm2m'],
} as const satisfies Record<'sms' | 'voice', readonly NumberType[]>;

export interface ParsedPhone {
  e164: string;
  country: string | undefined;
  numberType: NumberType;
}

export class InvalidPhoneNumber extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidPhoneNumber';
  }
}

const TYPES: Record<string, NumberType> = {
  MOBILE: 'mobile',
  FIXED_LINE: 'fixed_line',
  FIXED_LINE_OR_MOBILE: 'fixed_line_or_mobile',
  VOIP: 'voip',
  TOLL_FREE: 'toll_free',
  PREMIUM_RATE: 'premium_rate',
  SHARED_COST: 'shared_cost',
  PERSONAL_NUMBER: 'personal',
  PAGER: 'pager',
  UAN: 'uan',
  VOICEMAIL: 'voicemail',
};

/** A number as written, before any validity check: what a numbering plan of its own (risk/jp-numbers.ts) classifies. */
export interface ReadPhone {
  e164: string;
  callingCode: string;
  /** The national significant number (no trunk prefix): `9012345678` for +819012345678. */
  nationalNumber: string;
  country: string | undefined;
  /** libphonenumber's verdict and type, for the countries without a plan of our own. */
  valid: boolean;
  /** Whether its length is one the country's numbers can have (libphonenumber), whatever its range. */
  possible: boolean;
  numberType: NumberType;
}

/** Parses E.164, or national form with an ISO 3166-1 alpha-2 country, into a valid E.164 number. */
export function parsePhone(input: string, country?: string): ParsedPhone {
  const read = readPhone(input, country);
  if (!read.valid) throw new InvalidPhoneNumber('is not a valid number for its country');
  return { e164: read.e164, country: read.country, numberType: read.numberType };
}

/** Reads a number (E.164, or national form with a country) without judging its validity; InvalidPhoneNumber when it is not a number at all. */
export function readPhone(input: string, country?: string): ReadPhone {
  if (typeof input !== 'string' || input.length > 32 || !/^[+0-9()\-. ]+$/.test(input)) {
    throw new InvalidPhoneNumber('must be an E.164 number (+819012345678) or a national number with country');
  }
  let parsed;
  try {
    parsed = parsePhoneNumberWithError(input, country ? { defaultCountry: country.toUpperCase() as CountryCode } : undefined);
  } catch (err) {
    const code = err instanceof ParseError ? err.message : 'NOT_A_NUMBER';
    throw new InvalidPhoneNumber(
      code === 'INVALID_COUNTRY' ? 'is in national form: give country, or write it in E.164 (+<country code><number>)' : 'is not a phone number',
    );
  }
  const valid = parsed.isValid();
  return {
    e164: parsed.number,
    callingCode: String(parsed.countryCallingCode),
    nationalNumber: String(parsed.nationalNumber),
    country: parsed.country,
    valid,
    possible: parsed.isPossible(),
    numberType: valid ? (TYPES[parsed.getType() ?? ''] ?? 'unknown') : 'unknown',
  };
}

/** Whether `code` is an ISO 3166-1 alpha-2 country whose numbers we can parse (upper case). */
export function isPhoneCountry(code: string): boolean {
  return PHONE_COUNTRIES.has(code);
}

/**
 * `+819012345678` → `+81*******5678` (API.md): the country code and the last four digits stay; always seven
 * asterisks, so the mask does not tell the number's length either.
 */
export function maskPhone(e164: string): string {
  const m = /^\+(\d+)$/.exec(e164);
  if (!m) return '***';
  const digits = m[1];
  let cc = 1;
  for (const len of [3, 2, 1]) {
    // country calling codes are 1-3 digits; libphonenumber knows which
    if (len < digits.length - 4 && isCallingCode(digits.slice(0, len))) {
      cc = len;
      break;
    }
  }
  return `+${digits.slice(0, cc)}*******${digits.slice(-4)}`;
}

import { getCountries, getCountryCallingCode } from 'libphonenumber-js/max';
const CALLING_CODES = new Set(getCountries().map((c) => String(getCountryCallingCode(c))));
const PHONE_COUNTRIES = new Set<string>(getCountries());
function isCallingCode(prefix: string): boolean {
  return CALLING_CODES.has(prefix);
}
