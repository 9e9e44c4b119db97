import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';
import { Transactions } from './transactions';

/**
 * The TypeORM data source and the transaction runner. `DATABASE_URL` must be resolved before the module
 * starts: main.ts starts the embedded PostgreSQL first when none is configured. Migrations run at start
 * unless MIGRATIONS_RUN=false. Entities come from the modules that own them (forFeature).
 */
@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        if (!config.database.url) throw new Error('DATABASE_URL is not resolved');
        return {
          ...dataSourceOptions(config.database.url, config.database.poolSize),
          autoLoadEntities: true,
          migrationsRun: config.database.runMigrations,
          retryAttempts: 3,
          retryDelay: 1000,
        };
      },
    }),
  ],
  providers: [Transactions],
  exports: [Transactions],
})
export class DatabaseModule {}
