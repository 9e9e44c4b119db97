import { Client } from 'pg';

/** node-postgres's message for a statement its query_timeout gave up on (pg/lib/client.js, and its native client). */
const READ_TIMEOUT = 'Query read timeout';

type Query = (this: Client, ...args: unknown[]) => unknown;
/** pg's own query, looked up at each call: whatever wraps it later (an APM's instrumentation, a test's spy) stays in the path. */
const query = (): Query => Client.prototype.query as Query;

/**
 * node-postgres's Client (the pool's, given as its `Client` option), except that a connection whose statement the
 * server did not answer within query_timeout is ended. pg rejects that statement but leaves it in flight, and the
 * connection would then go back to the pool as it is: TypeORM's query runners (every `DataSource.query`, repository
 * and `transaction()`) release without an error, so whoever took the connection next would queue behind the dead
 * statement (pg sends in order) and fail in turn, one request after another while the server stays silent: a frozen
 * backend, or a half-open connection to a primary that failed over. An ended client is not pooled again (pg-pool
 * drops it on release), the statements queued behind fail at once, and its socket is closed now rather than when the
 * silent server closes it.
 *
 * Nothing else differs: the server's own statement_timeout, which cancels a slow statement and answers, keeps the
 * connection as before.
 */
export class PgClient extends Client {}

Object.defineProperty(PgClient.prototype, 'query', {
  configurable: true,
  writable: true,
  value: function (this: Client, ...args: unknown[]): unknown {
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (err: Error | null, result: unknown) => {
        if (err) dropIfUnanswered(this, err);
        (callback as (err: Error | null, result: unknown) => void)(err, result);
      };
      return query().apply(this, args);
    }
    const result = query().apply(this, args);
    if (result instanceof Promise) result.catch((err: Error) => dropIfUnanswered(this, err));
    return result;
  } satisfies Query,
});

function dropIfUnanswered(client: Client, err: Error): void {
  if (err?.message !== READ_TIMEOUT) return;
  // end() marks the client so that pg-pool removes it on release (and emits no 'error' for the closed socket)
  client.end().catch(() => undefined);
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
