import fc from 'fast-check';
import { countSegments } from './segments';

describe('countSegments', () => {
  it('GSM-7: 160 septets in one part, 153 per part beyond', () => {
    expect(countSegments('a'.repeat(160))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(countSegments('a'.repeat(161))).toEqual({ encoding: 'GSM-7', units: 161, segments: 2 });
    expect(countSegments('a'.repeat(306)).segments).toBe(2);
    expect(countSegments('a'.repeat(307)).segments).toBe(3);
  });

  it('extension characters take two septets', () => {
    expect(countSegments('€'.repeat(80))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(countSegments('€'.repeat(80) + 'a').segments).toBe(2);
  });

  it('UCS-2 (Japanese, emoji): 70 units in one part, 67 per part beyond', () => {
    expect(countSegments('あ'.repeat(70))).toEqual({ encoding: 'UCS-2', units: 70, segments: 1 });
    expect(countSegments('あ'.repeat(71)).segments).toBe(2);
    expect(countSegments('あ'.repeat(134)).segments).toBe(2);
    expect(countSegments('あ'.repeat(135)).segments).toBe(3);
    expect(countSegments('😀'.repeat(35))).toEqual({ encoding: 'UCS-2', units: 70, segments: 1 });
    expect(countSegments('a'.repeat(69) + 'é✓').encoding).toBe('UCS-2');
  });

  it('never reports fewer parts than the text needs', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 500, unit: 'binary' }), (text) => {
        const c = countSegments(text);
        const perPart = c.encoding === 'GSM-7' ? (c.segments === 1 ? 160 : 153) : c.segments === 1 ? 70 : 67;
        expect(c.units).toBeLessThanOrEqual(c.segments * perPart);
        if (text.length === 0) expect(c.segments).toBe(1);
      }),
    );
  });
});
