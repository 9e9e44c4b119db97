import { CountryCode, parsePhoneNumberWithError, ParseError } from 'libphonenumber-js/max';

export type NumberType = 'mobile' | 'fixed_line' | 'fixed_line_or_mobile' | 'voip' | 'toll_free' | 'premium_rate' | 'shared_cost' | 'personal' | 'pager' | 'uan' | 'voicemail' | 'unknown';

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

/** Parses E.164, or national form with an ISO 3166-1 alpha-2 country, into a valid E.164 number. */
export function parsePhone(input: string, country?: string): ParsedPhone {
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
  if (!parsed.isValid()) throw new InvalidPhoneNumber('is not a valid number for its country');
  return { e164: parsed.number, country: parsed.country, numberType: TYPES[parsed.getType() ?? ''] ?? 'unknown' };
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
function isCallingCode(prefix: string): boolean {
  return CALLING_CODES.has(prefix);
}
