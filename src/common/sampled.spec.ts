import { sampledEvery } from './sampled';

describe('sampledEvery', () => {
  const settings = { everyMs: 5000, timeoutMs: 50 };

  it('reads once per period of the given clock, and the scrapes of one period share the read', async () => {
    let t = 0;
    let reads = 0;
    let answer = 1;
    const sample = sampledEvery(settings, () => t, async () => (reads++, answer), () => NaN);
    const [a, b] = await Promise.all([sample(), sample()]);
    expect([a, b, reads]).toEqual([1, 1, 1]);
    answer = 2;
    t = 4999;
    expect(await sample()).toBe(1);
    expect(reads).toBe(1);
    t = 5000;
    expect(await sample()).toBe(2);
    t = 1000; // a clock set back reads again rather than keeping an old figure
    answer = 3;
    expect(await sample()).toBe(3);
    expect(reads).toBe(3);
  });

  it("gives onError's value for a period whose read failed or did not answer in time, then reads again", async () => {
    let t = 0;
    let mode: 'fail' | 'hang' | 'ok' = 'fail';
    const errors: string[] = [];
    const sample = sampledEvery(
      settings,
      () => t,
      () => (mode === 'fail' ? Promise.reject(new Error('database down')) : mode === 'hang' ? new Promise<number>(() => undefined) : Promise.resolve(7)),
      (err) => (errors.push((err as Error).message), NaN),
    );
    expect(await sample()).toBeNaN();
    mode = 'hang';
    t += 5000;
    const started = Date.now();
    expect(await sample()).toBeNaN();
    expect(Date.now() - started).toBeLessThan(2000);
    mode = 'ok';
    t += 5000;
    expect(await sample()).toBe(7);
    expect(errors).toEqual(['database down', 'no answer within 50 ms']);
  });
});
