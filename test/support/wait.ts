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
