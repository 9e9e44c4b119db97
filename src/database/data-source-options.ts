import type { DataSourceOptions } from 'typeorm';
import { migrations } from '../../migrations';
import { PgClient } from './pg-client';

export interface PoolLimits {
  poolSize: number;
  /** PostgreSQL's statement_timeout, and a client-side deadline a little later for a server that does not answer at all. */
  statementTimeoutMs?: number;
  /** For a new connection, and for a free one from a full pool. */
  connectTimeoutMs?: number;
  /**
   * How long a connection may sit idle in the pool before it is closed; 0 keeps every connection the pool opened.
   * Unset (the CLI, migrations, tests): pg's default of 10 s.
   */
  idleTimeoutMs?: number;
}

/**
 * The one set of TypeORM options, shared by the app (DatabaseModule) and the migration CLI (data-source.ts).
 * Entities are not listed here: each module registers its own (TypeOrmModule.forFeature) and the app's data
 * source collects them (autoLoadEntities); the migration CLI's data source (src/data-source.ts) lists them.
 * Without timeouts (the CLI, migrations) a statement may run as long as it needs.
 */
export function dataSourceOptions(url: string, limits: PoolLimits | number = 10): DataSourceOptions {
  const { poolSize, statementTimeoutMs, connectTimeoutMs = 5000, idleTimeoutMs } = typeof limits === 'number' ? { poolSize: limits } : limits;
  return {
    type: 'postgres',
    url,
    migrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false, // failures surface as errors, logged once by the problem filter
    extra: {
      Client: PgClient, // ends a connection whose statement the server did not answer in time, so it is not pooled again
      max: poolSize,
      connectionTimeoutMillis: connectTimeoutMs,
      application_name: 'otp-verify',
      keepAlive: true,
      ...(idleTimeoutMs !== undefined ? { idleTimeoutMillis: idleTimeoutMs } : {}),
      ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs, query_timeout: statementTimeoutMs + 1000 } : {}),
    },
  };
}
