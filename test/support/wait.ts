export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** Named in the error on timeout: "timed out after N ms waiting for <what>". A function is asked at timeout, to tell the state then. */
  what: string | (() => string);
  /** 10 s unless given. */
  timeoutMs?: number;
  /** Between two probes; 10 ms unless given. */
  intervalMs?: number;
  /** A probe that throws counts as "not yet" (e.g. fetch before a server listens); the last error is named on timeout. */
  ignoreErrors?: boolean;
}

/**
 * Probes until `probe` returns a truthy value, and returns that value. Throws, naming what it waited for, when
 * `timeoutMs` passes first: a test never goes on as if the condition had been met.
 */
export async function waitFor<T>(probe: () => T | Promise<T>, opts: WaitOptions): Promise<Exclude<T, undefined | null | false | 0 | ''>> {
  const { timeoutMs = 10_000, intervalMs = 10, ignoreErrors = false } = opts;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as Exclude<T, undefined | null | false | 0 | ''>;
    } catch (err) {
      if (!ignoreErrors) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const what = typeof opts.what === 'function' ? opts.what() : opts.what;
      const cause = lastError === undefined ? '' : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`, { cause: lastError });
    }
    await sleep(intervalMs);
  }
}

/**
 * The next call of `obj[method]` runs the real method, then holds its answer until `release()`: `reached` settles once
 * the real method has answered (a run has read what it reads), so a test can act in between and then let it go on.
 * `restore()` puts the method back (and releases, so a failed test leaves nothing held).
 */
export function holdNextCall<T extends object>(obj: T, method: keyof T & string): { reached: Promise<void>; release: () => void; restore: () => void } {
  const target = obj as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const real = target[method].bind(obj);
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const spy = jest.spyOn(target, method).mockImplementationOnce(async (...args: unknown[]) => {
    const answer = await real(...args);
    reach();
    await gate;
    return answer;
  });
  return {
    reached,
    release,
    restore: () => {
      release();
      spy.mockRestore();
    },
  };
}
