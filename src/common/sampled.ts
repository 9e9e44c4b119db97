/** How often a gauge read from the database is read again, and how long a scrape waits for it (sampledEvery). */
export const DATABASE_GAUGE = { everyMs: 5000, timeoutMs: 1000 };

/**
 * A figure read from the database for /metrics, at most once per `everyMs` of `now()` (the service's clock): scrapes
 * in between (several Prometheus servers, or anyone calling the public endpoint in a loop) get the last reading, and
 * scrapes that arrive while a read is in flight share it. A read that fails, or has not answered within `timeoutMs`
 * (the pool has no free connection, say: the scrape must not wait as long as the requests do), gives `onError`'s
 * value for that period.
 */
export function sampledEvery<T>(
  { everyMs, timeoutMs }: { everyMs: number; timeoutMs: number },
  now: () => number,
  read: () => Promise<T>,
  onError: (err: unknown) => T,
): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const t = now();
    if (!last || t - last.at >= everyMs || t < last.at) last = { at: t, value: within(timeoutMs, read()).catch(onError) };
    return last.value;
  };
}

function within<T>(ms: number, answer: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}
