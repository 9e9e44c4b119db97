import { SerialRuns } from './serial-runs';

/** A job whose runs end when the test says: `started()` counts the runs started, `end(i)` and `fail(i)` end the i-th. */
function controlled() {
  const ends: Array<(value: number) => void> = [];
  const fails: Array<(err: Error) => void> = [];
  const job = () =>
    new Promise<number>((resolve, reject) => {
      ends.push(resolve);
      fails.push(reject);
    });
  return { job, started: () => ends.length, end: (i: number, value: number) => ends[i](value), fail: (i: number, err: Error) => fails[i](err) };
}

describe('SerialRuns', () => {
  it('a tick joins the run under way; now() waits for it and runs one more, shared by the calls meanwhile', async () => {
    const runs = new SerialRuns<number>();
    const c = controlled();
    const first = runs.tick(c.job);
    const tick = runs.tick(c.job);
    const a = runs.now(c.job);
    const b = runs.now(c.job);
    expect(c.started()).toBe(1); // nothing runs beside the first
    c.end(0, 10);
    expect(await first).toBe(10);
    expect(await tick).toBe(10);
    await new Promise((resolve) => setImmediate(resolve));
    expect(c.started()).toBe(2); // one more, not one per call
    c.end(1, 20);
    expect(await a).toBe(20);
    expect(await b).toBe(20);
    expect(c.started()).toBe(2);
  });

  it('now() with nothing under way runs at once; the run after a failed one still runs', async () => {
    const runs = new SerialRuns<number>();
    const c = controlled();
    const first = runs.now(c.job);
    expect(c.started()).toBe(1);
    const next = runs.now(c.job);
    c.fail(0, new Error('database down'));
    await expect(first).rejects.toThrow('database down');
    await new Promise((resolve) => setImmediate(resolve));
    expect(c.started()).toBe(2);
    c.end(1, 3);
    expect(await next).toBe(3);
  });

  it('idle() settles once the run under way and the one queued after it have ended', async () => {
    const runs = new SerialRuns<number>();
    const c = controlled();
    void runs.tick(c.job);
    void runs.now(c.job);
    let idle = false;
    const waiting = runs.idle().then(() => (idle = true));
    c.end(0, 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(idle).toBe(false); // the queued run has started and not ended
    c.end(1, 2);
    await waiting;
    expect(idle).toBe(true);
  });
});
