// Data source for the TypeORM CLI (npm run migration:run|revert|generate). A composition root like
// main.ts: it collects the entities each module registers (the app does the same through
// TypeOrmModule.forFeature + autoLoadEntities). Needs DATABASE_URL; with none, start the service once
// (`npm start`) and use the embedded database's URL it prints.
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { CLIENTS_ENTITIES } from './clients/entities';
import { AppConfig } from './config/app-config';
import { dataSourceOptions } from './database/data-source-options';

const config = AppConfig.fromEnv(process.env);
const url = config.database.url ?? `postgres://postgres:postgres@127.0.0.1:${config.database.embeddedPort}/otp`;

export default new DataSource(Object.assign(dataSourceOptions(url, 2), { entities: [...CLIENTS_ENTITIES] }));
