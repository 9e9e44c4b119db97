import fc from 'fast-check';
import { InvalidPhoneNumber, maskPhone, parsePhone } from './phone';

describe('parsePhone', () => {
  it('accepts E.164 and national form with a country, giving the same E.164', () => {
    expect(parsePhone('+819012345678')).toMatchObject({ e164: '+819012345678', country: 'JP', numberType: 'mobile' });
    expect(parsePhone('090-1234-5678', 'JP')).toMatchObject({ e164: '+819012345678', numberType: 'mobile' });
    expect(parsePhone('03-1234-5678', 'jp')).toMatchObject({ e164: '+81312345678', numberType: 'fixed_line' });
  });

  it('rejects national form without a country, letters, and invalid numbers', () => {
    expect(() => parsePhone('09012345678')).toThrow(InvalidPhoneNumber);
    expect(() => parsePhone('+81abc')).toThrow(InvalidPhoneNumber);
    expect(() => parsePhone('+8190')).toThrow(InvalidPhoneNumber);
    expect(() => parsePhone('+1' + '9'.repeat(40))).toThrow(InvalidPhoneNumber);
  });

  it('never throws anything but InvalidPhoneNumber, whatever the input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.option(fc.constantFrom('JP', 'US', 'GB', 'XX', 'jp')), (input, country) => {
        try {
          const p = parsePhone(input, country ?? undefined);
          expect(p.e164).toMatch(/^\+[1-9]\d{6,14}$/);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidPhoneNumber);
        }
      }),
    );
  });
});

describe('maskPhone', () => {
  it('keeps the country code and the last four digits', () => {
    expect(maskPhone('+819012345678')).toBe('+81*******5678');
    expect(maskPhone('+14155552671')).toBe('+1*******2671');
    expect(maskPhone('+447700900123')).toBe('+44*******0123');
  });

  it('never shows more than the country code and four digits', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\+[1-9]\d{7,14}$/), (e164) => {
        const masked = maskPhone(e164);
        expect(masked).toMatch(/^\+\d{1,3}\*{7}\d{4}$/);
        expect(masked.slice(-4)).toBe(e164.slice(-4));
        expect(masked.replace(/\D/g, '').length).toBeLessThanOrEqual(3 + 4);
      }),
    );
  });
});
