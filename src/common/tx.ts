import { combineStatements, named, SqlParams } from './sql';

/** What a repository needs to run SQL: a transaction's Tx, or a plain EntityManager outside one. */
export interface Queryable {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query(sql: string, params?: unknown[]): Promise<any>;
}

/**
 * One database transaction as the modules see it (opened by `Transactions.run` in the database module):
 * - `query()` runs a statement now;
 * - `defer()` adds a write to run later as part of one combined statement (`flush()`, or before the next
 *   `query()`, or at commit), so that a hot path's writes from several owners cost one round trip while
 *   each owner keeps its own SQL;
 * - `afterCommit()` registers work that must wait for the commit (dispatching an outbox row): it runs once
 *   the transaction has committed, never when it rolls back.
 */
export type TxMode = 'transaction' | 'statement' | 'reader';

export class Tx implements Queryable {
  private statements: string[] = [];
  private params = new SqlParams();
  private readonly hooks: Array<() => unknown> = [];
  private closed = false;

  constructor(
    /** Where the SQL runs: a connection checked out for this transaction, or the pool (PgQueryable), or a test's fake. */
    readonly connection: Queryable,
    /**
     * `transaction`: inside BEGIN … COMMIT (Transactions.run). `statement`: deferred writes only, run as one
     * autocommit statement (Transactions.statement); no queries. `reader`: autocommit reads only.
     */
    readonly mode: TxMode = 'transaction',
    /** Run statements as named (prepared once per connection: `named`); off behind a pooler that cannot keep them (DATABASE_PREPARED_STATEMENTS). */
    private readonly prepared = false,
  ) {}

  // node-postgres takes a `{ name, text }` config where it takes SQL text (PgQueryable hands it on as it is).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private run(sql: string, params: unknown[] | undefined): Promise<any> {
    return this.connection.query((this.prepared ? named(sql) : sql) as string, params);
  }

  /** Adds a write to the pending combined statement; `build` takes its bind values through `p`. */
  defer(build: (p: SqlParams['p']) => string): void {
    this.assertOpen('defer');
    if (this.mode === 'reader') throw new Error('defer() needs a transaction: use Transactions.run');
    this.statements.push(build(this.params.p));
  }

  /** Runs the deferred writes, if any, as one statement. */
  async flush(): Promise<void> {
    if (this.statements.length === 0) return;
    const sql = combineStatements(this.statements);
    const values = this.params.values;
    this.statements = [];
    this.params = new SqlParams();
    await this.run(sql, values);
  }

  /** Runs a statement now, after any deferred writes (so it sees them). Misuse throws at once, not in the promise. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query(sql: string, params?: unknown[]): Promise<any> {
    this.assertOpen('query');
    if (this.mode === 'statement') throw new Error('query() is not allowed in a single statement: use Transactions.run');
    return this.flush().then(() => this.run(sql, params));
  }

  /** `fn` runs once this transaction has committed; never if it rolls back. */
  afterCommit(fn: () => unknown): void {
    this.assertOpen('afterCommit');
    if (this.mode === 'reader') throw new Error('afterCommit() needs a transaction: use Transactions.run');
    this.hooks.push(fn);
  }

  /**
   * Called by the transaction runner after COMMIT; the Tx is closed from then on. A hook that throws (or
   * whose promise rejects) is reported and does not stop the others.
   */
  committed(onError: (err: unknown) => void): void {
    this.closed = true;
    for (const hook of this.hooks.splice(0)) {
      try {
        const result = hook();
        if (result instanceof Promise) result.catch(onError);
      } catch (err) {
        onError(err);
      }
    }
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new Error(`${what}() on a transaction that has already committed`);
  }
}
