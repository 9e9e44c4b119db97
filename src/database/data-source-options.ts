import type { DataSourceOptions } from 'typeorm';
import { migrations } from '../../migrations';
import { entities } from './entities';

/** The one set of TypeORM options, shared by the app (DatabaseModule) and the migration CLI (data-source.ts). */
export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities,
    migrations,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false, // failures surface as errors, logged once by the problem filter
    extra: { max: poolSize, connectionTimeoutMillis: 5000, application_name: 'otp-verify' },
  };
}
