import { Clock } from '../common/clock';
import { AppConfig } from '../config/app-config';
import { apiKeyFromString, generateApiKey } from './api-keys';
import type { ActiveKeyRow, ClientsRepository } from './clients.repository';
import { ClientsService } from './clients.service';
import * as apiKeys from './api-keys';
import crypto from 'node:crypto';

const config = AppConfig.fromEnv({ NODE_ENV: 'test', DATABASE_URL: 'postgres://unused@127.0.0.1:1/none' });

function service(rows: Map<string, ActiveKeyRow>, cfg: AppConfig = config) {
  const lookups: string[] = [];
  const repo = { findActiveKey: async (prefix: string) => (lookups.push(prefix), rows.get(prefix)) } as unknown as ClientsRepository;
  return { sut: new ClientsService(undefined as never, repo, new Clock(), cfg, undefined as never, undefined as never), lookups };
}

describe('ClientsService.authenticate: no timing oracle on key prefixes', () => {
  const real = generateApiKey();
  const rows = new Map<string, ActiveKeyRow>([
    [real.prefix, { key_id: 'key_1', key_hash: real.hash, client_id: 'cli_1', name: 'a', scopes: ['admin'], max_check_attempts: null, requests_per_minute: null, countries: null, number_types: null, voice_contract: null, pumping: null, webhook_url: null, has_test_numbers: false, test_numbers_in_production: null }],
  ]);

  it('an unknown prefix and a known prefix with a wrong secret do the same work: one lookup per TTL, one constant-time hash comparison each', async () => {
    const { sut, lookups } = service(rows);
    const compare = jest.spyOn(crypto, 'timingSafeEqual');
    const unknown = generateApiKey().key;
    const wrongSecret = `otp_${real.prefix}_${'x'.repeat(40)}`;

    for (let i = 0; i < 3; i++) {
      expect(await sut.authenticate(unknown)).toBeUndefined();
      expect(await sut.authenticate(wrongSecret)).toBeUndefined();
    }
    // each prefix was read from the database once, then served from the cache, absent or not
    expect(lookups.sort()).toEqual([apiKeys.lookupPrefix(unknown), real.prefix].sort());
    expect(compare).toHaveBeenCalledTimes(6);
    expect(await sut.authenticate(real.key)).toMatchObject({ clientId: 'cli_1' });
    compare.mockRestore();
  });

  it('a key revoked elsewhere is read again once the TTL has passed, even if the wall clock stepped back meanwhile', async () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 11, 7, 9, 0, 0) });
    try {
      const key = generateApiKey();
      const own = new Map(rows);
      own.set(key.prefix, { ...rows.get(real.prefix)!, key_id: 'key_2', key_hash: key.hash });
      const { sut, lookups } = service(own);
      expect(await sut.authenticate(key.key)).toMatchObject({ clientId: 'cli_1' });
      own.delete(key.prefix); // revoked on another instance
      jest.setSystemTime(Date.now() - 3_600_000); // an NTP step, a VM resumed: the wall clock goes back an hour
      jest.advanceTimersByTime(config.clients.apiKeyCacheTtlMs + 1); // while the TTL passes
      expect(await sut.authenticate(key.key)).toBeUndefined();
      expect(lookups.filter((p) => p === key.prefix)).toHaveLength(2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('the cache of absent prefixes is bounded', async () => {
    const { sut } = service(new Map());
    for (let i = 0; i < 10_050; i++) await sut.authenticate(apiKeyFromString(`operator-key-${i}-${'y'.repeat(32)}`).key);
    expect((sut as unknown as { cache: Map<string, unknown> }).cache.size).toBe(10_000);
  });
});

describe('ClientsService.authenticate: one database read per key at a time', () => {
  const real = generateApiKey();
  const row: ActiveKeyRow = {
    key_id: 'key_1', key_hash: real.hash, client_id: 'cli_1', name: 'a', scopes: ['admin'], max_check_attempts: null, requests_per_minute: null, countries: null,
    number_types: null, voice_contract: null, pumping: null, webhook_url: null, has_test_numbers: false, test_numbers_in_production: null,
  };
  /** A repository whose reads wait until the test answers them, in order. */
  function held() {
    const reads: Array<{ resolve: (r: ActiveKeyRow | undefined) => void; reject: (e: Error) => void }> = [];
    const repo = {
      findActiveKey: () => new Promise<ActiveKeyRow | undefined>((resolve, reject) => reads.push({ resolve, reject })),
    } as unknown as ClientsRepository;
    return { sut: new ClientsService(undefined as never, repo, new Clock(), config, undefined as never, undefined as never), reads };
  }
  const settle = () => new Promise((r) => setImmediate(r));

  it('requests that miss the cache together share one read', async () => {
    const { sut, reads } = held();
    const answers = Promise.all(Array.from({ length: 50 }, () => sut.authenticate(real.key)));
    await settle();
    expect(reads).toHaveLength(1);
    reads[0].resolve(row);
    expect((await answers).every((p) => p?.clientId === 'cli_1')).toBe(true);
    // and then it is cached
    expect(await sut.authenticate(real.key)).toMatchObject({ clientId: 'cli_1' });
    expect(reads).toHaveLength(1);
  });

  it('a failed read fails its waiters and is not kept: the next request reads again', async () => {
    const { sut, reads } = held();
    const answers = Promise.allSettled([sut.authenticate(real.key), sut.authenticate(real.key)]);
    await settle();
    reads[0].reject(new Error('connection lost'));
    expect((await answers).map((a) => a.status)).toEqual(['rejected', 'rejected']);
    const again = sut.authenticate(real.key);
    await settle();
    expect(reads).toHaveLength(2);
    reads[1].resolve(row);
    expect(await again).toMatchObject({ clientId: 'cli_1' });
  });

  it('a key changed while it was being read (revoked, say) is read again, and the stale read is not cached', async () => {
    const { sut, reads } = held();
    const before = sut.authenticate(real.key);
    await settle();
    (sut as unknown as { forget(prefix: string): void }).forget(real.prefix); // what revoking it on this instance does
    const after = sut.authenticate(real.key);
    await settle();
    expect(reads).toHaveLength(2);
    reads[1].resolve(undefined); // the read after the revoke answers first
    expect(await after).toBeUndefined();
    reads[0].resolve(row); // then the one from before it
    expect(await before).toMatchObject({ clientId: 'cli_1' });
    expect(await sut.authenticate(real.key)).toBeUndefined();
    expect(reads).toHaveLength(2);
  });
});

describe('ClientsService.authenticate: whether a start looks for test numbers', () => {
  const production = AppConfig.fromEnv({
    NODE_ENV: 'production', DATABASE_URL: 'postgres://unused@127.0.0.1:1/none', OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32), AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32),
  });
  const principal = async (cfg: AppConfig, has: boolean, allowed: boolean | null) => {
    const key = generateApiKey();
    const row: ActiveKeyRow = {
      key_id: 'key_1', key_hash: key.hash, client_id: 'cli_1', name: 'a', scopes: ['verifications:write'], max_check_attempts: null, requests_per_minute: null, countries: null,
      number_types: null, voice_contract: null, pumping: null, webhook_url: null, has_test_numbers: has, test_numbers_in_production: allowed,
    };
    return (await service(new Map([[key.prefix, row]]), cfg).sut.authenticate(key.key))?.testNumbers;
  };

  it('only for a client that has test numbers; in production only when its policy allows them', async () => {
    expect(await principal(config, false, null)).toBe(false);
    expect(await principal(config, true, null)).toBe(true);
    expect(await principal(production, true, null)).toBe(false);
    expect(await principal(production, true, false)).toBe(false);
    expect(await principal(production, true, true)).toBe(true);
    expect(await principal(production, false, true)).toBe(false);
  });
});
