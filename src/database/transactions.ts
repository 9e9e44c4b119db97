import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { isDatabaseUnavailable } from '../common/problem.filter';
import { Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { PgQueryable } from './pg-queryable';

/**
 * Opens transactions for the modules. `run(fn)` gives `fn` a Tx; its deferred writes are flushed before
 * COMMIT, and its after-commit work runs once COMMIT succeeded (never after a rollback).
 *
 * The SQL goes to TypeORM's pool of node-postgres connections directly (PgQueryable), not through TypeORM's query
 * runner, which costs every statement of the hot paths broadcasts and promises for nothing the service uses.
 */
@Injectable()
export class Transactions {
  private readonly logger = new Logger(Transactions.name);
  /** Reads (and housekeeping's single-statement batch deletes) outside a transaction (autocommit); refuses deferred writes and after-commit work. */
  readonly reader: Tx;

  private readonly prepared: boolean;
  private readonly onPool: PgQueryable;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    config: AppConfig,
  ) {
    this.prepared = config.database.preparedStatements;
    this.onPool = new PgQueryable({ query: (sql: string, params?: unknown[]) => this.pool().query(sql, params) });
    this.reader = new Tx(this.onPool, 'reader', this.prepared);
  }

  /** TypeORM's pool (its PostgreSQL driver's `master`), with the service's limits and timeouts (dataSourceOptions). */
  private pool(): Pool {
    const pool = this.connectedPool();
    if (!pool) throw new Error('Driver not Connected');
    return pool;
  }

  private connectedPool(): Pool | undefined {
    const pool = (this.db.driver as unknown as { master?: Pool }).master;
    return pool && this.db.isInitialized ? pool : undefined;
  }

  /** The pool's connections (open, of them idle) and the requests waiting for one; undefined until it is connected. */
  poolCounts(): { total: number; idle: number; waiting: number } | undefined {
    const pool = this.connectedPool();
    return pool && { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
  }

  async run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool().connect();
    // An error on the connection while no statement runs (the server gone between two of them) is emitted as an
    // event: without a listener it would end the process. The connection is then dropped, not pooled again.
    let broken: Error | undefined;
    const onError = (err: Error) => (broken = err);
    client.on('error', onError);
    const sql = new PgQueryable(client);
    const tx = new Tx(sql, 'transaction', this.prepared);
    let result: T;
    try {
      await sql.query('BEGIN');
      result = await fn(tx);
      await tx.flush();
      // A statement that failed in `fn`, its error caught there, aborted the transaction: PostgreSQL then answers
      // COMMIT with ROLLBACK and saved nothing, which must not read as success. (The caught error is not known here,
      // so a statement timeout swallowed that way answers 500, not 503: catch only what you mean to.)
      const { command } = await client.query('COMMIT');
      if (command !== 'COMMIT') throw new Error(`the transaction was rolled back, not committed (COMMIT answered ${command}): a statement in it failed and its error was caught`);
    } catch (err) {
      // A connection that failed or timed out may still have a statement in flight: drop it rather than pool it.
      if (!broken && isDatabaseUnavailable(err)) broken = err as Error;
      if (!broken) await sql.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
    tx.committed((err) => this.logger.error({ err }, 'after-commit work failed'));
    return result;
  }

  /**
   * Runs `work` unless another process (an instance, or a worker) holds the advisory lock `key`, and holds it until
   * `work` settles: for the background jobs that one instance at a time runs (housekeeping, audit retention).
   *
   * The lock is transaction-scoped (pg_try_advisory_xact_lock), taken in a transaction of its own that stays open,
   * idle, on a connection of its own while `work` runs on others. A session lock (pg_try_advisory_lock) does not
   * survive a pooler in transaction mode (PgBouncer), which hands the server connection to other clients between
   * transactions: each of them then holds the lock too (a session's advisory locks stack), and the unlock, sent on
   * another server connection, leaves it held. An open transaction keeps its server connection, and PostgreSQL
   * releases the lock when it ends or the connection is lost. It writes nothing and, idle under READ COMMITTED (asked
   * for, whatever the database's default), holds no snapshot, so it holds back no VACUUM (of the rows housekeeping
   * deletes, say): its statements go as simple queries, since the extended protocol's unnamed portal would keep the
   * last statement's snapshot until the next one. The database's idle_in_transaction_session_timeout (and, from
   * PostgreSQL 17, transaction_timeout) are lifted for it, so that a run longer than those keeps its lock.
   *
   * `held()` turns false once the lock's connection is lost (the database restarted, or a pooler's own
   * idle_transaction_timeout closed it): the lock is then gone, and `work` should stop before its next step.
   */
  async exclusively<T>(key: number, work: (held: () => boolean) => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    if (!Number.isSafeInteger(key)) throw new Error(`advisory lock key ${key} is not an integer`);
    const client = await this.pool().connect();
    let broken: Error | undefined;
    const onError = (err: Error) => (broken = err);
    const onEnd = () => (broken ??= new Error('the connection holding the lock ended'));
    client.on('error', onError);
    client.on('end', onEnd);
    try {
      await client.query(
        `BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL idle_in_transaction_session_timeout = 0;
         SELECT CASE WHEN current_setting('server_version_num')::int >= 170000 THEN set_config('transaction_timeout', '0', true) END`,
      );
      const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_xact_lock(${key}) AS locked`);
      if (!rows[0].locked) return { ran: false };
      return { ran: true, value: await work(() => !broken) };
    } finally {
      // Ends the transaction, which releases the lock; a connection that failed is dropped, not pooled again.
      if (!broken) await client.query('ROLLBACK').catch((err: Error) => (broken = err));
      client.removeListener('error', onError);
      client.removeListener('end', onEnd);
      client.release(broken);
    }
  }

  /**
   * Writes that `build` defers, run as ONE autocommit statement (atomic on its own, no BEGIN/COMMIT round
   * trips); its after-commit work runs once the statement succeeded.
   */
  async statement(build: (tx: Tx) => void): Promise<void> {
    const tx = new Tx(this.onPool, 'statement', this.prepared);
    build(tx);
    await tx.flush();
    tx.committed((err) => this.logger.error({ err }, 'after-commit work failed'));
  }
}
