import { createHmac } from 'node:crypto';
import { verifyHttpReceipt } from './http-signature';

describe('the generic provider\'s receipt signature (HMAC-SHA256 over "<timestamp>.<body>")', () => {
  const secret = 'receipt-secret-0123456789abcdef0123456789';
  const body = Buffer.from('{"reference":"msg_01","status":"DELIVRD"}');
  const now = 1_765_000_000_000;
  const ts = String(now / 1000);
  // signed here with node:crypto directly, not with the code under test
  const sign = (t: string, b: Buffer | string, enc: 'hex' | 'base64' = 'hex', key = secret) => createHmac('sha256', key).update(`${t}.${b}`).digest(enc);
  const cfg = { secret, encoding: 'hex' as const, toleranceMs: 300_000 };

  it('accepts the right signature, hex (any case, sha256= prefix) or base64', () => {
    expect(verifyHttpReceipt(cfg, sign(ts, body), ts, body, now)).toBe('ok');
    expect(verifyHttpReceipt(cfg, 'sha256=' + sign(ts, body).toUpperCase(), ts, body, now)).toBe('ok');
    expect(verifyHttpReceipt({ ...cfg, encoding: 'base64' }, sign(ts, body, 'base64'), ts, body, now)).toBe('ok');
  });

  it('refuses another key, a changed body, a changed timestamp, a missing header or body', () => {
    expect(verifyHttpReceipt(cfg, sign(ts, body, 'hex', secret + 'x'), ts, body, now)).toBe('bad');
    expect(verifyHttpReceipt(cfg, sign(ts, body), ts, Buffer.from(body.toString().replace('DELIVRD', 'UNDELIV')), now)).toBe('bad');
    expect(verifyHttpReceipt(cfg, sign(ts, body), String(Number(ts) + 1), body, now)).toBe('bad');
    expect(verifyHttpReceipt(cfg, undefined, ts, body, now)).toBe('bad');
    expect(verifyHttpReceipt(cfg, sign(ts, body), undefined, body, now)).toBe('bad');
    expect(verifyHttpReceipt(cfg, sign(ts, body), ts, undefined, now)).toBe('bad');
    expect(verifyHttpReceipt(cfg, sign('abc', body), 'abc', body, now)).toBe('bad');
  });

  it('a genuine signature outside the tolerance (either way) is stale: replays are refused', () => {
    const old = String(now / 1000 - 301);
    const future = String(now / 1000 + 301);
    expect(verifyHttpReceipt(cfg, sign(old, body), old, body, now)).toBe('stale');
    expect(verifyHttpReceipt(cfg, sign(future, body), future, body, now)).toBe('stale');
    const edge = String(now / 1000 - 300);
    expect(verifyHttpReceipt(cfg, sign(edge, body), edge, body, now)).toBe('ok');
  });
});
