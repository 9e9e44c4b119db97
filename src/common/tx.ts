import type { EntityManager } from 'typeorm';
import { combineStatements, SqlParams } from './sql';

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
export class Tx implements Queryable {
  private statements: string[] = [];
  private params = new SqlParams();
  private readonly hooks: Array<() => void> = [];

  constructor(
    readonly manager: EntityManager,
    /** false for the autocommit reader: it takes no deferred writes and no after-commit work. */
    readonly transactional = true,
  ) {}

  /** Adds a write to the pending combined statement; `build` takes its bind values through `p`. */
  defer(build: (p: SqlParams['p']) => string): void {
    if (!this.transactional) throw new Error('defer() needs a transaction: use Transactions.run');
    this.statements.push(build(this.params.p));
  }

  /** Runs the deferred writes, if any, as one statement. */
  async flush(): Promise<void> {
    if (this.statements.length === 0) return;
    const sql = combineStatements(this.statements);
    const values = this.params.values;
    this.statements = [];
    this.params = new SqlParams();
    await this.manager.query(sql, values);
  }

  /** Runs a statement now, after any deferred writes (so it sees them). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async query(sql: string, params?: unknown[]): Promise<any> {
    await this.flush();
    return this.manager.query(sql, params);
  }

  /** `fn` runs once this transaction has committed; never if it rolls back. */
  afterCommit(fn: () => void): void {
    if (!this.transactional) throw new Error('afterCommit() needs a transaction: use Transactions.run');
    this.hooks.push(fn);
  }

  /** Called by the transaction runner after COMMIT. A hook that throws is reported and does not stop the others. */
  committed(onError: (err: unknown) => void): void {
    for (const hook of this.hooks.splice(0)) {
      try {
        hook();
      } catch (err) {
        onError(err);
      }
    }
  }
}
