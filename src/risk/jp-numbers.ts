import type { NumberType } from '../common/phone';

/**
 * Japan's numbering plan by national prefix (総務省, 電気通信番号計画), in national form with the trunk 0.
 * Number ranges decide a Japanese number's type here, not libphonenumber's metadata alone: its type for 020
 * is `pager`, it may not know ranges opened after its release (060 mobile numbers, issued from July 2026),
 * and the service must refuse ranges by what they are used for (M2M data SIMs, IP phones, service numbers).
 * Geographic fixed lines (the many area codes) are left to libphonenumber's validity check.
 *
 * The longest prefix that matches decides (0800 toll-free before 080 mobile; 0990 premium before Kagoshima's
 * 099 area code). `digits` is the length of the whole national number; another length is invalid.
 */
export interface JpRange {
  prefix: string;
  /** null: the range is not a number the service accepts at all (400 `invalid_phone_number`). */
  type: NumberType | null;
  digits: number | null;
  note: string;
}

export const JP_RANGES: readonly JpRange[] = [
  { prefix: '0200', type: null, digits: null, note: '14-digit M2M numbers (0200-XXXXX-XXXXX): not accepted' },
  { prefix: '020', type: 'm2m', digits: 11, note: 'M2M / data SIMs (IoT): refused by the default policy for SMS and calls' },
  { prefix: '050', type: 'voip', digits: 11, note: 'IP phones: cannot take SMS; calls only if the policy lists voip' },
  { prefix: '060', type: 'mobile', digits: 11, note: 'mobile (issued from July 2026)' },
  { prefix: '070', type: 'mobile', digits: 11, note: 'mobile' },
  { prefix: '0800', type: 'toll_free', digits: 11, note: 'toll-free (フリーダイヤル)' },
  { prefix: '080', type: 'mobile', digits: 11, note: 'mobile' },
  { prefix: '090', type: 'mobile', digits: 11, note: 'mobile' },
  { prefix: '0120', type: 'toll_free', digits: 10, note: 'toll-free (フリーダイヤル)' },
  { prefix: '0570', type: 'shared_cost', digits: 10, note: 'navi dial (ナビダイヤル): the caller pays, one number for many lines' },
  { prefix: '0990', type: 'premium_rate', digits: 10, note: 'premium information services (ダイヤルQ2)' },
  { prefix: '0180', type: 'premium_rate', digits: 10, note: 'mass-calling and information services (テレドーム)' },
  { prefix: '0170', type: 'premium_rate', digits: 10, note: 'message services (伝言ダイヤル)' },
  { prefix: '010', type: null, digits: null, note: 'the international call prefix, not a number' },
  { prefix: '00', type: null, digits: null, note: 'carrier selection codes, not a number' },
  { prefix: '030', type: null, digits: null, note: 'unassigned' },
  { prefix: '040', type: null, digits: null, note: 'unassigned' },
];

const BY_LENGTH = [...JP_RANGES].sort((a, b) => b.prefix.length - a.prefix.length);

export type JpClassification = { valid: true; numberType: NumberType; range: string } | { valid: false; reason: string };

/**
 * The type of a Japanese number from its national significant number (`9012345678` for +819012345678).
 * `geographicValid` is libphonenumber's verdict, used for the geographic fixed lines only.
 */
export function classifyJapaneseNumber(nationalNumber: string, geographicValid: boolean): JpClassification {
  if (!/^\d{1,17}$/.test(nationalNumber)) return { valid: false, reason: 'is not a phone number' };
  const national = '0' + nationalNumber;
  const range = BY_LENGTH.find((r) => national.startsWith(r.prefix));
  if (range) {
    if (range.type === null) return { valid: false, reason: `is not an accepted Japanese number (${range.prefix}: ${range.note})` };
    if (national.length !== range.digits) return { valid: false, reason: `is not a valid Japanese number: ${range.prefix} numbers have ${range.digits} digits` };
    return { valid: true, numberType: range.type, range: range.prefix };
  }
  // Geographic numbers: 0 + area code + subscriber number, 10 digits; 0A0 prefixes are never geographic.
  if (/^0[1-9][1-9]\d{7}$/.test(national) && geographicValid) return { valid: true, numberType: 'fixed_line', range: 'geographic' };
  return { valid: false, reason: 'is not a valid number for its country' };
}
