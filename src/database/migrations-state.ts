import { Injectable } from '@nestjs/common';
import { migrations } from '../../migrations';
import { Transactions } from './transactions';

/** The names TypeORM records in schema_migrations: a migration's `name`, else its class name. */
const NAMES = migrations.map((M) => (new M() as { name?: string }).name ?? M.name);

/**
 * Which migrations of this build the database has not applied, for readiness. Read through the pool as one
 * statement, which gives its connection back whatever happens (TypeORM's `showMigrations()` kept it when its query
 * failed: each failing probe lost one of the pool's connections, for good).
 */
@Injectable()
export class MigrationsState {
  constructor(private readonly transactions: Transactions) {}

  async pending(): Promise<string[]> {
    const rows: Array<{ name: string }> = await this.transactions.reader.query('SELECT name FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.name));
    return NAMES.filter((name) => !applied.has(name));
  }
}
