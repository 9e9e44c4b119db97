import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Provider routing (gateway):
 * - `outbox_attempts` records every provider a try reached, in order (`leg` 0, 1, …), with what became of it
 *   (`outcome`: accepted, retryable, permanent, unknown when a timeout left it unknown whether the provider took
 *   the message, circuit_open and rate_limited when it was not called at all);
 * - `provider_send_windows` holds, per provider and channel, the sends of the current second: one row each,
 *   moved on by one atomic upsert, so a provider's rate limit holds across every instance on the database.
 */
export class ProviderRouting1765200000000 implements MigrationInterface {
  name = 'ProviderRouting1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox_attempts ADD COLUMN leg smallint NOT NULL DEFAULT 0`);
    await q.query(
      `ALTER TABLE outbox_attempts ADD COLUMN outcome text CHECK (outcome IN ('accepted', 'retryable', 'permanent', 'unknown', 'circuit_open', 'rate_limited'))`,
    );
    await q.query(`ALTER TABLE outbox_attempts DROP CONSTRAINT outbox_attempts_pkey`);
    await q.query(`ALTER TABLE outbox_attempts ADD PRIMARY KEY (outbox_id, attempt, leg)`);
    await q.query(`
      CREATE TABLE provider_send_windows (
        provider     text NOT NULL,
        channel      text NOT NULL CHECK (channel IN ('sms', 'voice')),
        window_start timestamptz NOT NULL,
        sent         integer NOT NULL,
        PRIMARY KEY (provider, channel)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE provider_send_windows`);
    await q.query(`DELETE FROM outbox_attempts WHERE leg > 0`);
    await q.query(`ALTER TABLE outbox_attempts DROP CONSTRAINT outbox_attempts_pkey`);
    await q.query(`ALTER TABLE outbox_attempts ADD PRIMARY KEY (outbox_id, attempt)`);
    await q.query(`ALTER TABLE outbox_attempts DROP COLUMN outcome`);
    await q.query(`ALTER TABLE outbox_attempts DROP COLUMN leg`);
  }
}
