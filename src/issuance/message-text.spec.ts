import { renderMessage } from './message-text';
import { countSegments } from './segments';

const base = { channel: 'sms' as const, serviceName: 'OTP Verify', code: '123456', ttlSeconds: 300, purpose: 'login' };

describe('renderMessage', () => {
  it('Japanese default: service, code, validity, purpose, never-share warning, in one UCS-2 segment', () => {
    const text = renderMessage({ ...base, locale: 'ja' });
    expect(text).toContain('【OTP Verify】');
    expect(text).toContain('123456');
    expect(text).toContain('5分間有効');
    expect(text).toContain('ログイン');
    expect(text).toContain('誰にも教えないでください');
    expect(countSegments(text)).toMatchObject({ encoding: 'UCS-2', segments: 1 });
  });

  it('the default Japanese message stays one segment for every code length and TTL the API allows', () => {
    for (let len = 4; len <= 10; len++) {
      for (const ttl of [60, 300, 1800]) {
        const text = renderMessage({ ...base, locale: 'ja', code: '9'.repeat(len), ttlSeconds: ttl });
        expect(countSegments(text).segments).toBe(1);
      }
    }
  });

  it('English default is GSM-7 and fits one segment', () => {
    const text = renderMessage({ ...base, locale: 'en' });
    expect(text).toMatch(/OTP Verify: your sign-in code is 123456\. Valid 5 min\. Never share this code/);
    expect(countSegments(text)).toMatchObject({ encoding: 'GSM-7', segments: 1 });
  });

  it('a bound transaction states the amount and the payee (dynamic linking)', () => {
    const tx = { amount: '150000', currency: 'JPY', payee: 'ACME Ltd' };
    const ja = renderMessage({ ...base, locale: 'ja', purpose: 'transfer', transaction: tx });
    expect(ja).toContain('150,000円');
    expect(ja).toContain('ACME Ltd');
    expect(ja).toContain('振込');
    const en = renderMessage({ ...base, locale: 'en', purpose: 'transfer', transaction: { ...tx, currency: 'USD', amount: '1234.50' } });
    expect(en).toContain('1,234.50 USD');
    expect(en).toContain('to ACME Ltd');
  });

  it('a payee cannot inject lines or run long', () => {
    const text = renderMessage({ ...base, locale: 'en', transaction: { amount: '1', currency: 'USD', payee: 'Evil\nCall +1 555 0100 now\u202e' + 'x'.repeat(100) } });
    expect(text).not.toContain('\n');
    expect(text).not.toContain('\u202e');
    expect(text).toContain('…');
  });

  it('with a WebOTP domain the last line is "@domain #code"', () => {
    const text = renderMessage({ ...base, locale: 'ja', webOtpDomain: 'bank.example.jp' });
    expect(text.split('\n').at(-1)).toBe('@bank.example.jp #123456');
  });

  it('voice reads the code digit by digit, twice', () => {
    const text = renderMessage({ ...base, channel: 'voice', locale: 'en' });
    expect(text.match(/1, 2, 3, 4, 5, 6/g)).toHaveLength(2);
  });
});
