import { createTestDatabase, TestDatabase } from './support/database';
import { FakeServer, startFakeServer } from './support/fake-http';
import { freePort } from './support/net';
import { startTestApp } from './support/app';
import { freshPhone } from './support/phones';
import { MAIN, runBuilt, waitUntilReady } from './support/process';
import { messagesTo, waitForMessage } from './support/scenario';
import { sleep } from './support/wait';

describe('crash recovery of the outbox (built service, killed with SIGKILL)', () => {
  let db: TestDatabase;
  let sms: FakeServer;
  beforeAll(async () => {
    db = await createTestDatabase();
    sms = await startFakeServer();
  });
  afterAll(async () => {
    await sms?.close();
    await db?.drop();
  });

  it('a message whose dispatch was cut off (killed after commit, before sending) is sent exactly once after restart', async () => {
    // The client is made through an in-process instance (which also applies the migrations).
    const setup = await startTestApp(db.url);
    const { key } = await setup.createClient(['verifications:write', 'verifications:check']);
    await setup.close();

    const port = await freePort();
    const deadPort = await freePort(); // nothing listens there: the first instance cannot reach its provider
    const env = (smsUrl: string) => ({
      DATABASE_URL: db.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      DEV_CLIENT_ENABLED: 'false',
      SMS_PROVIDER: 'http',
      SMS_HTTP_URL: smsUrl,
      // the lease covers a whole send's budget: short here, but room for a cold process's first send on a loaded machine
      PROVIDER_TIMEOUT_MS: '3000',
      PROVIDER_SEND_BUDGET_MS: '3000',
      WEBHOOK_TIMEOUT_MS: '1000',
      OUTBOX_POLL_INTERVAL_MS: '200',
      LOG_LEVEL: 'warn',
    });
    const base = `http://127.0.0.1:${port}`;

    const first = runBuilt(MAIN, env(`http://127.0.0.1:${deadPort}/sms`));
    await waitUntilReady(first, base);
    const phone = freshPhone();
    const res = await fetch(`${base}/v1/verifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phoneNumber: phone, purpose: 'login' }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    first.child.kill('SIGKILL');
    await first.exited;
    const [left] = await db.query<{ status: string; payload: Buffer | null }>(`SELECT status, payload FROM outbox WHERE verification_id = $1`, [id]);
    expect(['pending', 'sending']).toContain(left.status);
    expect(left.payload).not.toBeNull();
    expect(messagesTo(sms, phone)).toHaveLength(0);

    const second = runBuilt(MAIN, env(`${sms.url}/sms`));
    try {
      await waitUntilReady(second, base);
      await waitForMessage(sms, phone, { timeoutMs: 30000 });
      await sleep(1500); // several more polls: nothing is sent twice
      expect(messagesTo(sms, phone)).toHaveLength(1);
      const [row] = await db.query<{ status: string; payload: Buffer | null; delivery_status: string }>(
        `SELECT status, payload, delivery_status FROM outbox WHERE verification_id = $1`,
        [id],
      );
      expect(row).toEqual({ status: 'done', payload: null, delivery_status: 'sent' });
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 90000);
});
