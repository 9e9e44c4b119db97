import { MigrationInterface, QueryRunner } from 'typeorm';

/** A client's own rate limit (requests a minute, all its keys and routes); null: the service's THROTTLE_LIMIT. */
export class ClientRequestsPerMinute1764500000000 implements MigrationInterface {
  name = 'ClientRequestsPerMinute1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_clients ADD COLUMN requests_per_minute integer CHECK (requests_per_minute BETWEEN 1 AND 1000000)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_clients DROP COLUMN requests_per_minute`);
  }
}
