import { Clients1764000000000 } from './1764000000000-clients';

/** Every migration in order. A new migration file must be added here (npm run migration:generate prints a reminder). */
export const migrations = [Clients1764000000000];
