import fc from 'fast-check';
import { InvalidPhoneNumber, REACHABLE_NUMBER_TYPES } from '../common/phone';
import { ProblemException } from '../common/problem';
import { classifyJapaneseNumber, JP_RANGES } from './jp-numbers';
import { assertReachable, numberTypeAllowed, parseNumber, parseNumberOrProblem } from './phone-numbers';

describe('Japanese numbers by national prefix', () => {
  it.each([
    ['+819012345678', 'mobile'],
    ['+818012345678', 'mobile'],
    ['+817012345678', 'mobile'],
    ['+816012345678', 'mobile'], // 060, issued from July 2026
    ['+812012345678', 'm2m'], // 020: libphonenumber says pager
    ['+815012345678', 'voip'], // 050 IP phone
    ['+81120123456', 'toll_free'], // 0120
    ['+818001234567', 'toll_free'], // 0800, not the 080 mobile range
    ['+81570123456', 'shared_cost'], // 0570 navi dial
    ['+81990123456', 'premium_rate'], // 0990
    ['+81180123456', 'premium_rate'], // 0180
    ['+81170123456', 'premium_rate'], // 0170
    ['+81312345678', 'fixed_line'], // Tokyo
    ['+81663123456', 'fixed_line'], // Osaka
    ['+81992123456', 'fixed_line'], // Kagoshima 099, not 0990
    ['+81422123456', 'fixed_line'], // Musashino 0422
  ])('%s is %s', (e164, type) => {
    expect(parseNumber(e164)).toEqual({ e164, country: 'JP', numberType: type });
  });

  it('060 numbers are mobile by our table whatever libphonenumber knows of them', () => {
    expect(classifyJapaneseNumber('6012345678', false)).toEqual({ valid: true, numberType: 'mobile', range: '060' });
  });

  it('national form with country JP gives the same answer', () => {
    expect(parseNumber('060-1234-5678', 'JP')).toMatchObject({ e164: '+816012345678', numberType: 'mobile' });
    expect(parseNumber('0120-123-456', 'jp')).toMatchObject({ e164: '+81120123456', numberType: 'toll_free' });
  });

  it.each([
    ['+812001234567890', '14-digit 0200 M2M number'],
    ['+81200123456789', '0200 of another length'],
    ['+8120123456', '020 of 10 digits'],
    ['+8190123456789', 'mobile of 12 digits'],
    ['+81901234567', 'mobile of 10 digits'],
    ['+8112012345', '0120 of 9 digits'],
    ['+813012345678', '030 (unassigned)'],
    ['+814012345678', '040 (unassigned)'],
    ['+81101234567', '010 (the international prefix)'],
    ['+81012345678', '00 (carrier codes)'],
    ['+81212345678', 'not a geographic range'],
    ['+8131234567', 'geographic of 9 digits'],
  ])('%s (%s) is not a valid number: 400 invalid_phone_number', (e164) => {
    expect(() => parseNumber(e164)).toThrow(InvalidPhoneNumber);
    const err = catchIt(() => parseNumberOrProblem(e164, undefined));
    expect(err).toMatchObject({ status: 400, code: 'invalid_phone_number' });
  });

  it('every range of the table has a prefix starting with 0 and a length or a refusal', () => {
    for (const r of JP_RANGES) {
      expect(r.prefix).toMatch(/^0\d{1,3}$/);
      if (r.type === null) expect(r.digits).toBeNull();
      else expect([10, 11]).toContain(r.digits);
    }
  });

  it('what no number of its type can receive is 400 unsupported_number_type; subscriber numbers pass to the policy', () => {
    const problem = (e164: string, channel: 'sms' | 'voice') => catchIt(() => assertReachable(parseNumber(e164), channel));
    for (const e164 of ['+81120123456', '+818001234567', '+81570123456', '+81990123456', '+81180123456']) {
      expect(problem(e164, 'sms')).toMatchObject({ status: 400, code: 'unsupported_number_type' });
      expect(problem(e164, 'voice')).toMatchObject({ status: 400, code: 'unsupported_number_type' });
    }
    expect(problem('+81312345678', 'sms')).toMatchObject({ status: 400, code: 'unsupported_number_type', extra: { numberType: 'fixed_line' } });
    expect(problem('+815012345678', 'sms')).toMatchObject({ status: 400, code: 'unsupported_number_type', extra: { numberType: 'voip' } });
    expect(problem('+815012345678', 'voice')).toBeUndefined();
    expect(problem('+812012345678', 'sms')).toBeUndefined(); // an M2M SIM can take SMS: the policy refuses it (403)
    expect(problem('+816012345678', 'sms')).toBeUndefined();
    expect(problem('+81312345678', 'voice')).toBeUndefined();
  });

  it('policy lists: fixed_line_or_mobile counts as mobile for SMS and as either for calls', () => {
    expect(numberTypeAllowed('m2m', ['mobile'], 'sms')).toBe(false);
    expect(numberTypeAllowed('m2m', ['mobile', 'm2m'], 'sms')).toBe(true);
    expect(numberTypeAllowed('fixed_line_or_mobile', ['mobile'], 'sms')).toBe(true);
    expect(numberTypeAllowed('fixed_line_or_mobile', ['fixed_line'], 'sms')).toBe(false);
    expect(numberTypeAllowed('fixed_line_or_mobile', ['fixed_line'], 'voice')).toBe(true);
  });
});

describe('parsing and classifying never crash (fast-check)', () => {
  /** Either a typed number or a 400 problem: nothing else may come out. */
  function outcome(input: string, country?: string): 'number' | 400 {
    try {
      const phone = parseNumberOrProblem(input, country);
      // E.164 sets no minimum; libphonenumber accepts some short national numbers (+49 1640 is valid for it).
      expect(phone.e164).toMatch(/^\+[1-9]\d{4,14}$/);
      for (const channel of ['sms', 'voice'] as const) {
        try {
          assertReachable(phone, channel);
          expect(REACHABLE_NUMBER_TYPES[channel]).toContain(phone.numberType);
        } catch (err) {
          expect(err).toBeInstanceOf(ProblemException);
          expect(err).toMatchObject({ status: 400, code: 'unsupported_number_type' });
        }
      }
      return 'number';
    } catch (err) {
      if (!(err instanceof ProblemException)) throw err;
      expect(err).toMatchObject({ status: 400, code: 'invalid_phone_number' });
      return 400;
    }
  }

  it('random strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.option(fc.constantFrom('JP', 'jp', 'US', 'GB', 'XX', ''), { nil: undefined }), (input, country) => {
        outcome(input, country);
      }),
      { numRuns: 2000 },
    );
  });

  it('random digit strings, as +81 E.164 and as Japanese national form', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{0,18}$/), (digits) => {
        outcome('+81' + digits);
        outcome('0' + digits, 'JP');
        outcome(digits, 'JP');
      }),
      { numRuns: 3000 },
    );
  });

  it('a valid Japanese number is typed by the longest prefix of the table that matches it', () => {
    fc.assert(
      fc.property(fc.constantFrom(...JP_RANGES.filter((r) => r.type !== null)), fc.stringMatching(/^[0-9]{12}$/), (range, tail) => {
        const national = (range.prefix + tail).slice(0, range.digits!);
        const longer = JP_RANGES.find((r) => r.prefix.length > range.prefix.length && national.startsWith(r.prefix));
        const decides = longer ?? range;
        if (decides.type === null) expect(() => parseNumber('+81' + national.slice(1))).toThrow(InvalidPhoneNumber);
        else expect(parseNumber('+81' + national.slice(1)).numberType).toBe(decides.type);
      }),
      { numRuns: 1000 },
    );
  });

  it('random digit strings with random E.164 country codes', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\+[0-9]{1,20}$/), (input) => {
        outcome(input);
      }),
      { numRuns: 2000 },
    );
  });
});

function catchIt(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err;
  }
}
