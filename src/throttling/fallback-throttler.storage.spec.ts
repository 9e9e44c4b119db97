import { Logger } from '@nestjs/common';
import { FallbackThrottlerStorage } from './fallback-throttler.storage';
import { MAX_ADDRESS_COUNTERS } from './memory-throttler.storage';

describe('FallbackThrottlerStorage without Redis', () => {
  afterEach(() => jest.restoreAllMocks());

  it('counts the live per-address counters a flood made it drop, and warns', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const storage = new FallbackThrottlerStorage(null);
    // one more address than the cap, all within one window: the older half goes, every one of them live
    for (let i = 0; i <= MAX_ADDRESS_COUNTERS; i++) await storage.increment(`default:ip:10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 60_000, 60, 60_000, 'default');
    expect((await storage.dropped.get()).values[0].value).toBe(MAX_ADDRESS_COUNTERS / 2);
    expect(storage.metrics).toContain(storage.dropped);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/25000 live per-address counters dropped/);
  });
});
