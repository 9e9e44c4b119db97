import { Global, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';
import { runMigrations, waitForDatabase } from './startup';
import { Housekeeping } from './housekeeping';
import { MigrationsState } from './migrations-state';
import { PoolMetrics } from './pool.metrics';
import { Transactions } from './transactions';

/**
 * The TypeORM data source and the transaction runner. `DATABASE_URL` must be resolved before the module
 * starts: main.ts starts the embedded PostgreSQL first when none is configured. The first connection is
 * retried for DATABASE_STARTUP_RETRY_SECONDS; migrations then run (unless MIGRATIONS_RUN=false) through a
 * connection of their own. The pool's statements and connections have deadlines (DATABASE_*_TIMEOUT_MS), so
 * a frozen database fails requests quickly (503) instead of holding them. Entities come from the modules
 * that own them (forFeature). Housekeeping is the one pruning scheduler the owners register their tasks with.
 */
@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: async (config: AppConfig) => {
        const { url, ...db } = config.database;
        if (!url) throw new Error('DATABASE_URL is not resolved');
        const logger = new Logger('Database');
        await waitForDatabase(url, db);
        if (db.runMigrations) await runMigrations(url, logger);
        return Object.assign(dataSourceOptions(url, db), {
          autoLoadEntities: true,
          toRetry: () => false, // the first connection was retried above; a failure here is not a reachability problem
        });
      },
    }),
  ],
  providers: [Transactions, Housekeeping, PoolMetrics, MigrationsState],
  exports: [Transactions, Housekeeping, MigrationsState],
})
export class DatabaseModule {}
