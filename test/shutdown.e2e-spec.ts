import { createTestDatabase, TestDatabase } from './support/database';
import { FakeServer, startFakeServer } from './support/fake-http';
import { freePort } from './support/net';
import { freshPhone } from './support/phones';
import { MAIN, runBuilt, Spawned, waitUntilReady } from './support/process';
import { expectProblem } from './support/problem';
import { startStack } from './support/stack';
import { waitFor } from './support/wait';

const KEY = 'shutdown-test-key-' + 'a'.repeat(30);

/**
 * SIGTERM while sends are in flight at a slow provider: the instance stops taking new work, lets the sends
 * finish and record their outcome, then closes the pool. Nothing is sent twice, nothing accepted is lost.
 */
describe('SIGTERM under load', () => {
  let db: TestDatabase;
  let sms: FakeServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    sms = await startFakeServer();
  });
  afterAll(async () => {
    await sms.close();
    await db.drop();
  });

  async function startInstance(): Promise<{ run: Spawned; base: string }> {
    const port = await freePort();
    const run = runBuilt(MAIN, {
      DATABASE_URL: db.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      DEV_API_KEY: KEY,
      SMS_PROVIDER: 'http',
      SMS_HTTP_URL: `${sms.url}/sms`,
      PROVIDER_TIMEOUT_MS: '3000',
      WEBHOOK_TIMEOUT_MS: '1000',
      OUTBOX_POLL_INTERVAL_MS: '200',
      LOG_LEVEL: 'info',
    });
    const base = `http://127.0.0.1:${port}`;
    await waitUntilReady(run, base);
    return { run, base };
  }

  function start(base: string, phoneNumber: string): Promise<{ status: number | 'refused'; id?: string; code?: string; contentType?: string | null }> {
    return fetch(`${base}/v1/verifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phoneNumber, purpose: 'login' }),
    }).then(
      async (res) => {
        const body = (await res.json()) as { id?: string; code?: string };
        return { status: res.status, id: body.id, code: body.code, contentType: res.headers.get('content-type') };
      },
      () => ({ status: 'refused' as const }),
    );
  }

  it('lets in-flight sends finish and record, then exits 0; every accepted verification gets exactly one SMS', async () => {
    const first = await startInstance();
    sms.respond = () => ({ status: 200, body: { id: `p-${Math.random()}` }, delayMs: 1500 });

    // Starts keep coming, before and during the shutdown.
    const phones = Array.from({ length: 40 }, () => freshPhone());
    const answers: Array<ReturnType<typeof start>> = [];
    let signalled = false;
    for (const [i, phone] of phones.entries()) {
      answers.push(start(first.base, phone));
      if (!signalled && sms.received.length >= 5) {
        first.run.child.kill('SIGTERM');
        signalled = true;
      }
      await new Promise((r) => setTimeout(r, i < 20 ? 25 : 50));
    }
    expect(signalled).toBe(true);
    const settled = await Promise.all(answers);
    const accepted = phones.filter((_, i) => settled[i].status === 201);
    expect(accepted.length).toBeGreaterThanOrEqual(5);
    // After the signal, a start is refused (connection refused or 503), never half-taken.
    for (const a of settled) expect([201, 503, 'refused']).toContain(a.status);
    for (const a of settled.filter((x) => x.status === 503)) {
      expect(a.code).toBe('service_unavailable');
      expect(a.contentType).toMatch(/^application\/problem\+json/);
    }

    expect(await first.run.exited).toBe(0);
    const errors = first.run.stdout().split('\n').concat(first.run.stderr().split('\n')).filter((l) => /"level":50/.test(l));
    expect(errors).toEqual([]);

    // The instance recorded every send it began: each message the provider took has its row done.
    const taken = sms.received.length;
    const [{ n: done }] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox WHERE kind = 'sms' AND status = 'done'`);
    expect(done).toBe(taken);

    // A second instance takes over whatever was queued but not begun; then each accepted number has exactly one SMS.
    sms.respond = () => ({ status: 200, body: { id: `p-${Math.random()}` } });
    const second = await startInstance();
    try {
      await waitFor(
        async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox WHERE kind = 'sms' AND status <> 'done'`))[0].n === 0,
        { timeoutMs: 30000, intervalMs: 250, what: 'every SMS row done' },
      );
      const perPhone = new Map<string, number>();
      for (const r of sms.received) perPhone.set(r.json.to, (perPhone.get(r.json.to) ?? 0) + 1);
      for (const phone of accepted) expect([phone, perPhone.get(phone)]).toEqual([phone, 1]);
    } finally {
      second.run.child.kill('SIGTERM');
      expect(await second.run.exited).toBe(0);
    }
  }, 90000);

  it('a second SIGTERM while it drains (npm forwarding a Ctrl+C, an operator killing twice) does not cut the drain short', async () => {
    const one = await startInstance();
    sms.respond = () => ({ status: 200, body: { id: `p-${Math.random()}` }, delayMs: 1500 });
    const phone = freshPhone();
    const answer = start(one.base, phone);
    await waitFor(() => sms.received.some((r) => r.json?.to === phone), { what: 'the send at the provider' });
    one.run.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    one.run.child.kill('SIGTERM');
    expect((await answer).status).toBe(201);
    expect(await one.run.exited).toBe(0);
    expect(one.run.stdout() + one.run.stderr()).toContain('shutdown complete');
    const [row] = await db.query<{ status: string }>(`SELECT o.status FROM outbox o JOIN verifications v ON v.id = o.verification_id WHERE v.phone_e164 = $1 AND o.kind = 'sms'`, [phone]);
    expect(row.status).toBe('done');
  }, 60000);

  it('a request arriving once shutdown has begun gets 503 service_unavailable as problem+json, and its connection closed', async () => {
    const stack = await startStack({ db });
    try {
      const { key } = await stack.t.createClient();
      // What Nest does first on close(): the HTTP adapter learns that the app is shutting down.
      (stack.t.app.getHttpAdapter() as unknown as { beforeClose(): void }).beforeClose();
      const res = await stack.t.request('POST', '/v1/verifications', { key, body: { phoneNumber: freshPhone(), purpose: 'login' } });
      expectProblem(res, 503, 'service_unavailable');
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.headers.get('connection')).toBe('close');
      expect(res.headers.get('x-request-id')).toBeTruthy();
    } finally {
      await stack.close();
    }
  });
});
