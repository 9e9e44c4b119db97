import { applyHeapGrowth } from './bootstrap';
import { AppConfig } from './config/app-config';

describe('HEAP_GROWTH_PERCENT', () => {
  it('defaults to 20 and is handed to V8 as --heap-growing-percent at start-up', () => {
    const config = AppConfig.fromEnv({ NODE_ENV: 'development' });
    expect(config.http.heapGrowthPercent).toBe(20);
    const flags: string[] = [];
    applyHeapGrowth(config.http.heapGrowthPercent, (f) => flags.push(f));
    expect(flags).toEqual(['--heap-growing-percent=20']);
  });

  it('0 leaves V8 its own heuristics', () => {
    const flags: string[] = [];
    applyHeapGrowth(AppConfig.fromEnv({ NODE_ENV: 'development', HEAP_GROWTH_PERCENT: '0' }).http.heapGrowthPercent, (f) => flags.push(f));
    expect(flags).toEqual([]);
  });

  it('refuses values V8 would not take sensibly', () => {
    expect(() => AppConfig.fromEnv({ NODE_ENV: 'development', HEAP_GROWTH_PERCENT: '-5' })).toThrow(/HEAP_GROWTH_PERCENT/);
    expect(() => AppConfig.fromEnv({ NODE_ENV: 'development', HEAP_GROWTH_PERCENT: '1000' })).toThrow(/HEAP_GROWTH_PERCENT/);
    expect(() => AppConfig.fromEnv({ NODE_ENV: 'development', HEAP_GROWTH_PERCENT: 'lots' })).toThrow(/HEAP_GROWTH_PERCENT/);
  });
});
