// The dispatcher records every try, also when a sender fails in an unexpected way (not a provider answer):
// e.g. a row sealed with a key that OTP_HMAC_KEYS no longer holds. Such a row is retried with backoff and
// given up after its attempts, never left leased and re-claimed without end.
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import { startTestApp, TestApp } from './support/app';
import { createTestDatabase, TestDatabase } from './support/database';

describe('outbox dispatcher: an unexpected sender failure is recorded like any failure', () => {
  let db: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await startTestApp(db.url, { OUTBOX_POLL_INTERVAL_MS: '600000' });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('a webhook whose payload cannot be opened: the try is recorded as internal error, retried, then given up with its audit event', async () => {
    // [key id length][key id "gone"][12-byte IV][16-byte tag][ciphertext]: sealed under a key id this service does not have
    const sealed = Buffer.concat([Buffer.from([4]), Buffer.from('gone'), Buffer.alloc(12, 1), Buffer.alloc(16, 2), Buffer.from('secret body')]);
    await db.query(
      `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, attempts, max_attempts, next_attempt_at, created_at, updated_at)
       VALUES ('whk_GONE', 'webhook', NULL, NULL, $1, 'pending', 0, 2, now() - interval '1 second', now(), now())`,
      [sealed],
    );
    const dispatcher = t.app.get(OutboxDispatcher);
    expect(await dispatcher.pollOnce()).toBe(1);
    expect(await db.query(`SELECT attempt, ok, error FROM outbox_attempts WHERE outbox_id = 'whk_GONE'`)).toEqual([{ attempt: 1, ok: false, error: 'internal error' }]);
    expect(await db.query(`SELECT status, attempts, last_error FROM outbox WHERE id = 'whk_GONE'`)).toEqual([{ status: 'pending', attempts: 1, last_error: 'internal error' }]);

    await db.query(`UPDATE outbox SET next_attempt_at = now() - interval '1 second' WHERE id = 'whk_GONE'`);
    expect(await dispatcher.pollOnce()).toBe(1);
    expect(await db.query(`SELECT status, attempts, payload FROM outbox WHERE id = 'whk_GONE'`)).toEqual([{ status: 'failed', attempts: 2, payload: null }]);
    expect(await db.query(`SELECT type, data->>'error' AS error FROM audit_events WHERE data->>'outboxId' = 'whk_GONE'`)).toEqual([{ type: 'webhook.failed', error: 'internal error' }]);
    expect(await dispatcher.pollOnce()).toBe(0); // given up: never claimed again

    const logged = t.logs.filter((l) => l.includes('unexpected error while sending'));
    expect(logged.length).toBe(2);
    expect(logged.join('')).not.toContain('secret body');
  });
});
