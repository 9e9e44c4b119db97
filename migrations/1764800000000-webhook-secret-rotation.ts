import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Standard Webhooks: a rotated-out secret keeps signing (beside the new one) until its overlap ends; an endpoint
 * that answered 410 Gone is disabled until an admin enables it again.
 */
export class WebhookSecretRotation1764800000000 implements MigrationInterface {
  name = 'WebhookSecretRotation1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_clients ADD COLUMN previous_webhook_secret text, ADD COLUMN previous_webhook_secret_until timestamptz,
                   ADD COLUMN webhook_disabled_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_clients DROP COLUMN previous_webhook_secret, DROP COLUMN previous_webhook_secret_until, DROP COLUMN webhook_disabled_at`);
  }
}
