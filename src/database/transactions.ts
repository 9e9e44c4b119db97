import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';

/**
 * Opens transactions for the modules. `run(fn)` gives `fn` a Tx; its deferred writes are flushed before
 * COMMIT, and its after-commit work runs once COMMIT succeeded (never after a rollback).
 */
@Injectable()
export class Transactions {
  private readonly logger = new Logger(Transactions.name);
  /** Reads (and housekeeping's single-statement batch deletes) outside a transaction (autocommit); refuses deferred writes and after-commit work. */
  readonly reader: Tx;

  private readonly prepared: boolean;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    config: AppConfig,
  ) {
    this.prepared = config.database.preparedStatements;
    this.reader = new Tx(db.manager, 'reader', this.prepared);
  }

  async run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    let tx!: Tx;
    const result = await this.db.transaction(async (manager) => {
      tx = new Tx(manager, 'transaction', this.prepared);
      const value = await fn(tx);
      await tx.flush();
      return value;
    });
    tx.committed((err) => this.logger.error({ err }, 'after-commit work failed'));
    return result;
  }

  /**
   * Writes that `build` defers, run as ONE autocommit statement (atomic on its own, no BEGIN/COMMIT round
   * trips); its after-commit work runs once the statement succeeded.
   */
  async statement(build: (tx: Tx) => void): Promise<void> {
    const tx = new Tx(this.db.manager, 'statement', this.prepared);
    build(tx);
    await tx.flush();
    tx.committed((err) => this.logger.error({ err }, 'after-commit work failed'));
  }
}
