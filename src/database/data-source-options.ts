import type { DataSourceOptions } from 'typeorm';
import { migrations } from '../../migrations';

/**
 * The one set of TypeORM options, shared by the app (DatabaseModule) and the migration CLI (data-source.ts).
 * Entities are not listed here: each module registers its own (TypeOrmModule.forFeature) and the app's data
 * source collects them (autoLoadEntities); the migration CLI's data source (src/data-source.ts) lists them.
 */
export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    migrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false, // failures surface as errors, logged once by the problem filter
    extra: { max: poolSize, connectionTimeoutMillis: 5000, application_name: 'otp-verify' },
  };
}
