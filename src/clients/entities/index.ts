import { ApiClient } from './api-client.entity';
import { ApiKey } from './api-key.entity';

/** The entities of the clients module (registered with TypeOrmModule.forFeature, and by the migration CLI's data source). */
export const CLIENTS_ENTITIES = [ApiClient, ApiKey];
