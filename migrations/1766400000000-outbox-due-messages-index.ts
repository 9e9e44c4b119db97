import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The code messages (every kind but webhook) waiting for a due retry, by due time: what `otp_outbox_overdue_seconds`
 * reads for sms, voice and check_call in one index entry, however many webhooks are due before them (one client's
 * slow receiver can hold thousands, and outbox_due_idx would have to be walked past all of them). A row is in it only
 * while it waits for a retry (status pending): a start's first send is written `sending` and never enters it.
 * A plain CREATE INDEX: the index is small, but building it reads the whole table while writes to it wait; on a large
 * live table create it CONCURRENTLY first, under this name.
 */
export class OutboxDueMessagesIndex1766400000000 implements MigrationInterface {
  name = 'OutboxDueMessagesIndex1766400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS outbox_due_messages_idx ON outbox (next_attempt_at) WHERE status = 'pending' AND kind <> 'webhook'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX outbox_due_messages_idx`);
  }
}
