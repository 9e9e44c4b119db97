import fc from 'fast-check';
import { canonicalTransaction, codeHmac, generateCode, hmacEquals } from './codes';

const key = { id: 'k1', secret: Buffer.alloc(32, 7) };

describe('codes', () => {
  it('are digits of the requested length, from the random source', () => {
    for (let len = 4; len <= 10; len++) expect(generateCode(len)).toMatch(new RegExp(`^\\d{${len}}$`));
    expect(generateCode(6, () => 3)).toBe('333333');
  });

  it('are uniform enough: each digit appears about equally (chi-square over 60,000 digits)', () => {
    const counts = Array(10).fill(0);
    for (let i = 0; i < 10000; i++) for (const d of generateCode(6)) counts[Number(d)]++;
    const expected = 6000;
    const chi = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi).toBeLessThan(27.88); // p = 0.001 for 9 degrees of freedom
  });

  it('the HMAC binds the code to its verification and its transaction', () => {
    const tx = { amount: '150000', currency: 'JPY', payee: 'ACME' };
    const h = codeHmac(key, 'vrf_1', '123456', tx);
    expect(h).toHaveLength(32);
    expect(hmacEquals(h, codeHmac(key, 'vrf_1', '123456', { amount: '150000.00', currency: 'jpy', payee: ' ACME ' }))).toBe(true);
    expect(hmacEquals(h, codeHmac(key, 'vrf_2', '123456', tx))).toBe(false);
    expect(hmacEquals(h, codeHmac(key, 'vrf_1', '123457', tx))).toBe(false);
    expect(hmacEquals(h, codeHmac(key, 'vrf_1', '123456', { ...tx, amount: '150001' }))).toBe(false);
    expect(hmacEquals(h, codeHmac(key, 'vrf_1', '123456', null))).toBe(false);
    expect(hmacEquals(h, codeHmac({ id: 'k2', secret: Buffer.alloc(32, 8) }, 'vrf_1', '123456', tx))).toBe(false);
  });

  it('canonical transactions: equal amounts are equal, different ones differ', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n - 1n }), fc.bigInt({ min: 0n, max: 10n ** 15n - 1n }), (a, b) => {
        const ca = canonicalTransaction({ amount: a.toString(), currency: 'JPY', payee: 'x' });
        expect(canonicalTransaction({ amount: `00${a}.000`, currency: 'jpy', payee: 'x' })).toBe(ca);
        if (a !== b) expect(canonicalTransaction({ amount: b.toString(), currency: 'JPY', payee: 'x' })).not.toBe(ca);
      }),
    );
  });
});
