import type { EntityManager } from 'typeorm';
import { Clock } from '../common/clock';
import { AppConfig } from '../config/app-config';
import { canonicalJson } from './audit-chain';
import { AuditDataRefused, isSecretKeyName, MAX_DATA_BYTES, sanitizeAuditData } from './audit-data';
import { AuditService } from './audit.service';

function newService() {
  const clock = { now: () => new Date('2026-11-24T12:00:00.000Z') } as Clock;
  const config = AppConfig.fromEnv({ AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32) });
  const queries: Array<{ sql: string; params: unknown[] }> = [];
  const manager = { query: async (sql: string, params: unknown[]) => void queries.push({ sql, params }) } as unknown as EntityManager;
  return { service: new AuditService(clock, config), manager, queries };
}

describe('AuditService.record', () => {
  it('inserts one row in the given transaction, with the phone number only as HMAC and masked', async () => {
    const { service, manager, queries } = newService();
    const id = await service.record(manager, {
      type: 'verification.created',
      actor: { type: 'client', id: 'cli_1' },
      clientId: 'cli_1',
      verificationId: 'vrf_1',
      phoneNumber: '+819012345678',
      ip: '10.0.0.1',
      data: { channel: 'sms', codeLength: 6, countryCode: 'JP', at: new Date(0), skipped: undefined },
    });
    expect(id).toMatch(/^evt_[0-9A-Z]{26}$/);
    expect(queries).toHaveLength(1);
    expect(queries[0].sql).toMatch(/^INSERT INTO audit_events/);
    const params = queries[0].params;
    expect(JSON.stringify(params)).not.toContain('9012345678');
    expect(params).toContain('+81*******5678');
    expect(params[5]).toEqual(service.phoneHash('+819012345678'));
    expect(JSON.parse(params[10] as string)).toEqual({ channel: 'sms', codeLength: 6, countryCode: 'JP', at: '1970-01-01T00:00:00.000Z' });
  });

  it.each([
    [{ code: '123456' }],
    [{ otp: '123456' }],
    [{ apiKey: 'x' }],
    [{ api_key: 'x' }],
    [{ webhookSecret: 'x' }],
    [{ accessToken: 'x' }],
    [{ password: 'x' }],
    [{ verificationCode: '1234' }],
    [{ nested: { deeper: [{ ok: 1 }, { Secret: 'x' }] } }],
    [{ provider: { authToken: 'x' } }],
    [{ note: 'otp_AAAAAAAAAAAA_' + 'B'.repeat(40) }],
  ])('refuses data that looks like a secret: %j', async (data) => {
    const { service, manager, queries } = newService();
    await expect(service.record(manager, { type: 'verification.created', actor: { type: 'system' }, data })).rejects.toThrow(AuditDataRefused);
    expect(queries).toHaveLength(0);
  });

  it('refuses a phone number that is not normalized E.164, and a malformed type or actor', async () => {
    const { service, manager, queries } = newService();
    await expect(service.record(manager, { type: 'x.y', actor: { type: 'system' }, phoneNumber: '090-1234-5678' })).rejects.toThrow(/E\.164/);
    await expect(service.record(manager, { type: 'Nope', actor: { type: 'system' } })).rejects.toThrow(/type/);
    await expect(service.record(manager, { type: 'x.y', actor: { type: 'root' as never } })).rejects.toThrow(/actor/);
    expect(queries).toHaveLength(0);
  });
});

describe('secret-looking keys', () => {
  it('tells secrets from ordinary fields', () => {
    for (const k of ['code', 'otp', 'otpCode', 'apiKey', 'API_KEY', 'secret', 'clientSecret', 'token', 'refresh_token', 'password', 'pin', 'passcode', 'privateKey', 'key'])
      expect([k, isSecretKeyName(k)]).toEqual([k, true]);
    for (const k of ['countryCode', 'errorCode', 'codeLength', 'keyId', 'prefix', 'channel', 'footprint', 'hotpath', 'reasons', 'status', 'attemptsRemaining'])
      expect([k, isSecretKeyName(k)]).toEqual([k, false]);
  });

  it('keeps JSON values and refuses the rest', () => {
    expect(sanitizeAuditData(undefined)).toEqual({});
    expect(() => sanitizeAuditData({ n: NaN })).toThrow(AuditDataRefused);
    expect(() => sanitizeAuditData({ m: new Map() })).toThrow(AuditDataRefused);
    expect(() => sanitizeAuditData({ big: 'x'.repeat(20000) })).toThrow(/larger/);
  });

  it('names where in the data a refused value sits', () => {
    const at = (data: Record<string, unknown>) => {
      try {
        sanitizeAuditData(data);
      } catch (err) {
        return (err as AuditDataRefused).path;
      }
      throw new Error('not refused');
    };
    expect(at({ nested: { deeper: [{ ok: 1 }, { Secret: 'x' }] } })).toBe('nested.deeper[1].Secret');
    expect(at({ list: [[1, NaN]] })).toBe('list[0][1]');
    expect(at({ a: { when: new Date(NaN) } })).toBe('a.when');
    expect(at({ m: new Map() })).toBe('m');
    expect(at({ '[x]': { ok: 1, token: 'x' } })).toBe('[x].token');
    expect(() => sanitizeAuditData({ a: { b: [0, { c: 'x\u0000' }] } })).toThrow('audit event data refused at "a.b[1].c": NUL characters cannot be stored');
  });

  it('measures the data by the bytes of its canonical text: the limit is exact, in UTF-8', () => {
    // key order and multi-byte characters: '認' is 3 bytes; {"z":"…","a":"…"} is 15 bytes around the two strings
    const sized = (bytes: number) => ({ z: '認'.repeat(1000), a: 'x'.repeat(bytes - 15 - 3000) });
    expect(Buffer.byteLength(canonicalJson(sized(MAX_DATA_BYTES)), 'utf8')).toBe(MAX_DATA_BYTES);
    expect(sanitizeAuditData(sized(MAX_DATA_BYTES))).toEqual(sized(MAX_DATA_BYTES));
    expect(() => sanitizeAuditData(sized(MAX_DATA_BYTES + 1))).toThrow(/larger than 16384 bytes/);
  });
});
