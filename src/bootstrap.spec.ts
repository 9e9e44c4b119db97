import { applyHeapSettings, LAUNCH_FLAGS, missingLaunchFlags } from './bootstrap';
import { AppConfig } from './config/app-config';

const flagsFor = (env: Record<string, string>) => {
  const flags: string[] = [];
  applyHeapSettings(AppConfig.fromEnv({ NODE_ENV: 'development', ...env }).http, (f) => flags.push(f));
  return flags;
};

describe('HEAP_GROWTH_PERCENT', () => {
  it('defaults to 20 and is handed to V8 as --heap-growing-percent at start-up', () => {
    expect(AppConfig.fromEnv({ NODE_ENV: 'development' }).http.heapGrowthPercent).toBe(20);
    expect(flagsFor({})).toContain('--heap-growing-percent=20');
  });

  it('0 leaves V8 its own heuristics', () => {
    expect(flagsFor({ HEAP_GROWTH_PERCENT: '0' }).filter((f) => f.startsWith('--heap-growing-percent'))).toEqual([]);
  });

  it('refuses values V8 would not take sensibly', () => {
    expect(() => AppConfig.fromEnv({ NODE_ENV: 'development', HEAP_GROWTH_PERCENT: '-5' })).toThrow(/HEAP_GROWTH_PERCENT/);
    expect(() => AppConfig.fromEnv({ NODE_ENV: 'development', HEAP_GROWTH_PERCENT: '1000' })).toThrow(/HEAP_GROWTH_PERCENT/);
    expect(() => AppConfig.fromEnv({ NODE_ENV: 'development', HEAP_GROWTH_PERCENT: 'lots' })).toThrow(/HEAP_GROWTH_PERCENT/);
  });
});

describe('HEAP_PRETENURING', () => {
  it("is off by default: V8 gets --no-allocation-site-pretenuring with the heap's growth", () => {
    expect(flagsFor({})).toEqual(['--heap-growing-percent=20', '--no-allocation-site-pretenuring']);
  });

  it('true leaves V8 its pretenuring', () => {
    expect(flagsFor({ HEAP_PRETENURING: 'true' })).toEqual(['--heap-growing-percent=20']);
  });

  it('refuses what is not a boolean', () => {
    expect(() => AppConfig.fromEnv({ NODE_ENV: 'development', HEAP_PRETENURING: 'sometimes' })).toThrow(/HEAP_PRETENURING/);
  });
});

describe('launch flags', () => {
  it('are --no-memory-reducer and --max-semi-space-size=8, which V8 reads only when it sets up the heap', () => {
    expect(LAUNCH_FLAGS).toEqual(['--no-memory-reducer', '--max-semi-space-size=8']);
  });

  it('names the ones node was started without, whatever else it was given', () => {
    expect(missingLaunchFlags([], '')).toEqual(['--no-memory-reducer', '--max-semi-space-size=8']);
    expect(missingLaunchFlags(['--inspect', '--no-memory-reducer', '--max-semi-space-size=8'], '')).toEqual([]);
    expect(missingLaunchFlags(['--memory-reducer', '--max-semi-space-size=8'], '')).toEqual(['--no-memory-reducer']);
  });

  it("takes an operator's own semi-space size, on the command line or in NODE_OPTIONS, as given", () => {
    expect(missingLaunchFlags(['--no-memory-reducer', '--max-semi-space-size=16'], '')).toEqual([]);
    expect(missingLaunchFlags(['--no-memory-reducer'], '--max-old-space-size=1024 --max-semi-space-size=4')).toEqual([]);
    expect(missingLaunchFlags(['--no-memory-reducer'], '--max-old-space-size=1024')).toEqual(['--max-semi-space-size=8']);
    expect(missingLaunchFlags(['--no_memory_reducer', '--max_semi_space_size=16'], '')).toEqual([]);
    expect(missingLaunchFlags([], '"--no-memory-reducer" "--max-semi-space-size=4"')).toEqual([]);
  });
});
