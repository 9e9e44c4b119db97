// Webhooks cannot be turned against the service's own network (issue 9, item 1): a callbackUrl or webhookUrl
// naming a loopback, private, link-local, metadata… address, in any spelling, is refused when given (400,
// nothing stored); a host name is checked again at delivery against what it resolves to, and the delivery
// connects to the checked address (the tests' own resolver names hosts no real DNS knows, so a delivery that
// arrives went to that address); refusals are audited and recorded the same whatever listens there; no
// credentials in URLs, no redirects, a small cap on the answer read, and a per-client cap on deliveries in
// flight so that a slow receiver does not hold back anyone else's.
import { createServer, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { HostResolver } from '../src/common/webhook-destinations';
import { OutboxBox } from '../src/gateway/outbox.types';
import type { TestApp } from './support/app';
import type { TestDatabase } from './support/database';
import { FakeServer, startFakeServer } from './support/fake-http';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { startVerification, webhooksFor } from './support/scenario';
import { SmsStack, startSmsStack, startStack, Stack } from './support/stack';
import { sleep, waitFor } from './support/wait';

/** The DNS of these tests: names only they know, and every lookup asked. */
function testResolver(table: Record<string, string[]>) {
  const lookups: string[] = [];
  const resolver: HostResolver = async (host) => {
    lookups.push(host);
    const found = table[host];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);
  };
  return { resolver, lookups };
}

/** A raw receiver for answers the fake server cannot give; remembers whether its connections were closed on it. */
async function startRawServer(handle: (res: ServerResponse) => void): Promise<{ port: number; requests: number; closedByPeer: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const state = { port: 0, requests: 0, closedByPeer: 0, close: async () => undefined as void };
  const server: Server = createServer((req, res) => {
    state.requests++;
    req.resume();
    req.on('end', () => handle(res));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      state.closedByPeer++;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return state;
}

const counts = async (db: TestDatabase) =>
  (
    await db.query<{ verifications: number; outbox: number; audit: number; clients: number }>(
      `SELECT (SELECT count(*)::int FROM verifications) AS verifications, (SELECT count(*)::int FROM outbox) AS outbox,
              (SELECT count(*)::int FROM audit_events) AS audit, (SELECT count(*)::int FROM api_clients) AS clients`,
    )
  )[0];

describe('webhook destinations (real app, real PostgreSQL, fake receivers on 127.0.0.1)', () => {
  let stack: SmsStack;
  let t: TestApp;
  let db: TestDatabase;
  let hooks: FakeServer;
  let admin: { key: string };
  let caller: { key: string; clientId: string };
  const dns = testResolver({
    'hooks.allowed.test': ['127.0.0.1'],
    'rebind.test': ['127.0.0.1'],
    'private.test': ['10.0.0.7'],
    'mixed.test': ['93.184.215.14', '::ffff:127.0.0.1'],
  });

  /** Set by a test: the wall clock is stepped back an hour (an NTP step, a VM resumed) during the next lookup. */
  let stepBackOnLookup = false;
  const resolver: HostResolver = (host) => {
    if (stepBackOnLookup) {
      stepBackOnLookup = false;
      const real = Date.now.bind(Date);
      jest.spyOn(Date, 'now').mockImplementation(() => real() - 3_600_000);
    }
    return dns.resolver(host);
  };

  beforeAll(async () => {
    stack = await startSmsStack({
      // as production would: no loopback, one allow-listed name; no background polling (the first try is made at once)
      env: { WEBHOOK_ALLOW_LOOPBACK: 'false', WEBHOOK_ALLOWED_DESTINATIONS: 'hooks.allowed.test', WEBHOOK_TIMEOUT_MS: '3000', OUTBOX_POLL_INTERVAL_MS: '600000' },
      resolver,
    });
    ({ t, db, hooks } = stack);
    admin = await t.createClient(['admin']);
    caller = await t.createClient(['verifications:write', 'verifications:check']);
  });
  afterAll(async () => stack?.close());

  const port = () => new URL(hooks.url).port;

  /** Starts a verification with this callbackUrl and approves it: a verification.approved webhook is queued. */
  const approveWith = async (callbackUrl: string) => {
    const v = await startVerification(t, stack.sms, caller.key, { callbackUrl });
    const check = await t.request('POST', `/v1/verifications/${v.id}/check`, { key: caller.key, body: { code: v.code } });
    expect(check.body.status).toBe('approved');
    return v.id;
  };

  /** The webhook row of a verification once its try is over, with its recorded tries. */
  const settledWebhook = async (verificationId: string) => {
    const row = await waitFor(
      async () => (await db.query<{ id: string; status: string; attempts: number }>(`SELECT id, status, attempts FROM outbox WHERE verification_id = $1 AND kind = 'webhook'`, [verificationId])).find((r) => r.status !== 'sending'),
      { what: `the webhook of ${verificationId} to leave 'sending'` },
    );
    const tries = await db.query<{ ok: boolean; status_code: number | null; error: string | null }>(`SELECT ok, status_code, error FROM outbox_attempts WHERE outbox_id = $1 ORDER BY attempt`, [row.id]);
    return { ...row, tries };
  };

  describe('refused when given: 400 validation_failed naming the field and the reason, nothing stored or sent', () => {
    const forms: Array<[string, (receiverPort: string) => string, string]> = [
      ['loopback', (p) => `http://127.0.0.1:${p}/hook`, 'loopback'],
      ['[::1]', (p) => `http://[::1]:${p}/hook`, 'loopback'],
      ['a decimal integer', (p) => `http://2130706433:${p}/hook`, 'loopback'],
      ['hex', (p) => `http://0x7f.1:${p}/hook`, 'loopback'],
      ['octal', (p) => `http://0177.0.0.1:${p}/hook`, 'loopback'],
      ['a short form', (p) => `http://127.1:${p}/hook`, 'loopback'],
      ['IPv4-mapped IPv6', (p) => `http://[::ffff:127.0.0.1]:${p}/hook`, 'loopback'],
      ['IPv4-compatible IPv6', (p) => `http://[::127.0.0.1]:${p}/hook`, 'loopback'],
      ['NAT64', (p) => `http://[64:ff9b::7f00:1]:${p}/hook`, 'loopback'],
      ['localhost', (p) => `http://localhost:${p}/hook`, 'loopback'],
      ['the database port', () => 'http://localhost:5432/', 'loopback'],
      ['the service itself', () => `${t.url}/v1/admin/clients`, 'loopback'],
      ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/iam/security-credentials/', 'metadata'],
      ['cloud metadata by name', () => 'http://metadata.google.internal/computeMetadata/v1/', 'metadata'],
      ['cloud metadata over IPv6', () => 'http://[fd00:ec2::254]/latest/meta-data/', 'metadata'],
      ['link-local', () => 'http://169.254.10.1/hook', 'link-local'],
      ['private', () => 'http://10.0.0.1/hook', 'private'],
      ['private in octal', () => 'http://0300.0250.0.1/hook', 'private'],
      ['unique-local', () => 'http://[fd12:3456::1]/hook', 'unique-local'],
      ['CGNAT', () => 'http://100.64.0.1/hook', 'carrier-grade-nat'],
      ['unspecified', () => 'http://0.0.0.0:5432/', 'unspecified'],
      ['multicast', () => 'http://224.0.0.1/hook', 'multicast'],
      ['credentials', (p) => `http://user:Pw-S3cret@hooks.allowed.test:${p}/hook`, 'credentials'],
      ['a lone user part (a token)', (p) => `http://s3cr3t-token@hooks.allowed.test:${p}/hook`, 'credentials'],
    ];

    it.each(forms)('callbackUrl on start: %s', async (_what, url, reason) => {
      const before = await counts(db);
      const phone = freshPhone();
      const res = await t.request('POST', '/v1/verifications', { key: caller.key, body: { phoneNumber: phone, purpose: 'login', callbackUrl: url(port()) } });
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors).toEqual([{ field: 'callbackUrl', message: expect.stringContaining(reason === 'carrier-grade-nat' ? 'carrier-grade NAT' : reason) }]);
      expect(res.body.detail).toMatch(/^callbackUrl must not /);
      expect(res.text).not.toMatch(/Pw-S3cret|s3cr3t-token/);
      expect(await counts(db)).toEqual(before);
      expect(stack.sms.received.filter((m) => m.json?.to === phone)).toEqual([]);
    });

    it.each(forms)('webhookUrl on client creation: %s', async (_what, url, reason) => {
      const before = await counts(db);
      const name = `refused-${Math.random().toString(36).slice(2, 8)}`;
      const res = await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name, scopes: ['verifications:write'], webhookUrl: url(port()) } });
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors).toEqual(expect.arrayContaining([{ field: 'webhookUrl', message: expect.any(String) }]));
      if (reason !== 'credentials') expect(res.body.detail).toContain(reason === 'carrier-grade-nat' ? 'carrier-grade NAT' : reason);
      expect(await counts(db)).toEqual(before);
      expect(await db.query(`SELECT 1 FROM api_clients WHERE name = $1`, [name])).toEqual([]);
    });
  });

  it('an allow-listed name is accepted and delivered to: the delivery connects to the address checked (no real DNS knows the name)', async () => {
    const lookupsBefore = dns.lookups.length;
    const id = await approveWith(`http://hooks.allowed.test:${port()}/hook?token=abc`);
    const row = await settledWebhook(id);
    expect(row).toMatchObject({ status: 'done', attempts: 1, tries: [{ ok: true, status_code: 200, error: null }] });
    const [hook] = webhooksFor(hooks, id);
    expect(hook.json.type).toBe('verification.approved');
    expect(hook.headers.host).toBe(`hooks.allowed.test:${port()}`);
    expect(dns.lookups.slice(lookupsBefore)).toEqual(['hooks.allowed.test']); // resolved once, for the check and the connection
  });

  describe('checked again at delivery, against the resolved addresses', () => {
    it.each([
      ['webhookUrl', 'rebind.test', 'loopback'],
      ['callbackUrl', 'private.test', 'private'],
      ['callbackUrl', 'mixed.test', 'loopback'], // one public address does not clear the other
    ])('%s naming %s (resolving to %s): nothing sent, a final failure recorded, webhook.refused audited', async (field, host, reason) => {
      const url = `http://${host}:${port()}/hook?token=abc`;
      let id: string;
      let clientId = caller.clientId;
      const received = hooks.received.length;
      if (field === 'webhookUrl') {
        const created = await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: `rebinder-${Date.now()}`, scopes: ['verifications:write', 'verifications:check'], webhookUrl: url } });
        expect(created.status).toBe(201); // a name is not resolved when given
        clientId = created.body.id;
        const v = await startVerification(t, stack.sms, created.body.apiKey.key);
        expect((await t.request('POST', `/v1/verifications/${v.id}/check`, { key: created.body.apiKey.key, body: { code: v.code } })).body.status).toBe('approved');
        id = v.id;
      } else {
        id = await approveWith(url);
      }
      const row = await settledWebhook(id);
      expect(row).toMatchObject({ status: 'failed', attempts: 1, tries: [{ ok: false, status_code: null, error: `destination refused: ${reason}` }] });
      expect(hooks.received.length).toBe(received);

      const events = await db.query<{ type: string; client_id: string; verification_id: string; actor_type: string; data: Record<string, unknown> }>(
        `SELECT type, client_id, verification_id, actor_type, data FROM audit_events WHERE verification_id = $1 AND type LIKE 'webhook.%'`,
        [id],
      );
      expect(events).toEqual([{ type: 'webhook.refused', client_id: clientId, verification_id: id, actor_type: 'system', data: { outboxId: row.id, attempts: 1, reason, host: `${host}:${port()}` } }]);
      expect(JSON.stringify(events)).not.toContain('token=abc');
    });

    it('no port-scan oracle: a refused destination is recorded the same whether something listens there or not', async () => {
      const closed = await startRawServer(() => undefined);
      await closed.close(); // a port where nothing listens now
      const listening = await settledWebhook(await approveWith(`http://rebind.test:${port()}/a`));
      const nothing = await settledWebhook(await approveWith(`http://rebind.test:${closed.port}/a`));
      expect(listening.tries).toEqual(nothing.tries);
      expect(listening.tries).toEqual([{ ok: false, status_code: null, error: 'destination refused: loopback' }]);
    });
  });

  it('a redirect is not followed: the 3xx is a failed try, recorded, and the place it points to gets nothing', async () => {
    const elsewhere = await startFakeServer();
    try {
      hooks.respond = () => ({ status: 302, headers: { location: `${elsewhere.url}/stolen` } });
      const id = await approveWith(`http://hooks.allowed.test:${port()}/hook`);
      const row = await settledWebhook(id);
      expect(row).toMatchObject({ status: 'pending', tries: [{ ok: false, status_code: 302, error: 'HTTP 302 (redirects are not followed)' }] });
      await sleep(200);
      expect(elsewhere.received).toEqual([]);
    } finally {
      hooks.respond = () => ({ status: 200, body: {} });
      await elsewhere.close();
    }
  });

  it('at most 4 KiB of an answer is read: a receiver that never stops talking does not hold the delivery until its timeout', async () => {
    const endless = await startRawServer((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = 'x'.repeat(16 * 1024);
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(chunk)), 20);
      res.on('close', () => clearInterval(timer));
    });
    try {
      const id = await approveWith(`http://hooks.allowed.test:${endless.port}/hook`);
      const started = Date.now();
      const row = await settledWebhook(id);
      expect(row).toMatchObject({ status: 'done', tries: [{ ok: true, status_code: 200, error: null }] });
      expect(Date.now() - started).toBeLessThan(2500); // WEBHOOK_TIMEOUT_MS is 3000
      await waitFor(() => endless.closedByPeer > 0, { what: 'the service to close the connection to the endless receiver' });
    } finally {
      await endless.close();
    }
  });

  it('the delivery\'s deadline holds when the wall clock is stepped back during it: the try times out after WEBHOOK_TIMEOUT_MS, not an hour later', async () => {
    const receiver = await startRawServer(() => undefined); // reads the request, never answers
    try {
      const v = await startVerification(t, stack.sms, caller.key, { callbackUrl: `http://hooks.allowed.test:${receiver.port}/hook` });
      stepBackOnLookup = true;
      const started = performance.now();
      const check = await t.request('POST', `/v1/verifications/${v.id}/check`, { key: caller.key, body: { code: v.code } });
      expect(check.body.status).toBe('approved');
      const row = await settledWebhook(v.id);
      expect(row).toMatchObject({ status: 'pending', tries: [{ ok: false, error: 'timed out after 3000 ms' }] });
      expect(performance.now() - started).toBeLessThan(6000);
    } finally {
      jest.restoreAllMocks();
      await receiver.close();
    }
  }, 20_000);

  it('GET /v1/admin/clients never shows credentials of a webhook URL stored before they were refused', async () => {
    const created = await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: `legacy-${Date.now()}`, scopes: ['verifications:write'], webhookUrl: 'https://bank.example/hook' } });
    expect(created.status).toBe(201);
    await db.query(`UPDATE api_clients SET webhook_url = 'https://hookuser:Hook-S3cret@bank.example/hook' WHERE id = $1`, [created.body.id]);
    const list = await t.request('GET', '/v1/admin/clients', { key: admin.key });
    const one = await t.request('GET', `/v1/admin/clients/${created.body.id}`, { key: admin.key });
    expect(list.body.items.find((c: { id: string }) => c.id === created.body.id).webhookUrl).toBe('https://***@bank.example/hook');
    expect(one.body.webhookUrl).toBe('https://***@bank.example/hook');
    for (const res of [list, one]) expect(res.text).not.toMatch(/Hook-S3cret|hookuser/);
  });
});

describe('webhook destinations in production (the defaults)', () => {
  let stack: Stack;
  let t: TestApp;
  let admin: { key: string };
  let caller: { key: string };

  beforeAll(async () => {
    stack = await startStack({ env: { NODE_ENV: 'production', AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32) } });
    t = stack.t;
    admin = await t.createClient(['admin']);
    caller = await t.createClient(['verifications:write']);
  });
  afterAll(async () => stack?.close());

  it.each([
    ['https://127.0.0.1:9/', 'loopback'],
    ['https://localhost/hook', 'loopback'],
    ['http://bank.example/hook', 'https'],
    ['https://user:pass@bank.example/hook', 'credentials'],
  ])('%s is refused as callbackUrl and as webhookUrl (%s)', async (url, why) => {
    const start = await t.request('POST', '/v1/verifications', { key: caller.key, body: { phoneNumber: freshPhone(), purpose: 'login', callbackUrl: url } });
    expectProblem(start, 400, 'validation_failed');
    expect(start.body.detail).toContain(why);
    const client = await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: `p-${Math.random().toString(36).slice(2, 8)}`, scopes: ['verifications:write'], webhookUrl: url } });
    expectProblem(client, 400, 'validation_failed');
    expect(client.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'webhookUrl' })]));
  });

  it('a public https URL is accepted', async () => {
    const client = await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: 'public-hooks', scopes: ['verifications:write'], webhookUrl: 'https://hooks.bank.example/otp' } });
    expect(client.status).toBe(201);
    expect(client.body.webhookUrl).toBe('https://hooks.bank.example/otp');
  });
});

describe('a slow webhook receiver holds back only its own client (WEBHOOK_CONCURRENCY_PER_CLIENT)', () => {
  let stack: SmsStack;
  let t: TestApp;
  let db: TestDatabase;
  let slow: FakeServer;

  beforeAll(async () => {
    slow = await startFakeServer();
    stack = await startSmsStack({
      env: { OUTBOX_POLL_INTERVAL_MS: '100', WEBHOOK_TIMEOUT_MS: '5000', WEBHOOK_CONCURRENCY_PER_CLIENT: '2', WEBHOOK_ALLOW_LOOPBACK: 'false', WEBHOOK_ALLOWED_DESTINATIONS: 'hooks.allowed.test' },
      resolver: testResolver({ 'hooks.allowed.test': ['127.0.0.1'] }).resolver,
    });
    ({ t, db } = stack);
  });
  afterAll(async () => {
    await slow?.close(); // first: the tries hanging on it end now, not at their timeout
    await stack?.close();
  });

  /** Webhook rows due now, as retries waiting for the poller are; written at once, so one poll may claim them all. */
  const queueDueWebhooks = async (ids: string[], clientId: string, receiver: FakeServer) => {
    const url = `http://hooks.allowed.test:${new URL(receiver.url).port}/hook`;
    const box = t.app.get(OutboxBox);
    const payloads = ids.map((id) => box.seal({ url, secret: 'whsec_' + 'a'.repeat(40), body: JSON.stringify({ id }), eventId: `evt_${id}`, type: 'verification.approved' }));
    await db.query(
      `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, attempts, max_attempts, next_attempt_at, created_at, updated_at)
       SELECT id, 'webhook', NULL, $2, payload, 'pending', 0, 9, now() - interval '1 second', now(), now() FROM unnest($1::text[], $3::bytea[]) AS r(id, payload)`,
      [ids, clientId, payloads],
    );
  };

  it("client A's hanging receiver gets at most the cap at once, the rest wait without spending a try, and client B's webhook goes out at once", async () => {
    const a = await t.createClient(['verifications:write']);
    const b = await t.createClient(['verifications:write']);
    slow.respond = () => 'hang';
    await queueDueWebhooks(['whk_A0', 'whk_A1', 'whk_A2', 'whk_A3', 'whk_A4', 'whk_A5'], a.clientId, slow);
    await slow.waitFor(2);
    await sleep(1500); // several polls, and past the moment held-back rows are due again
    expect(slow.received.length).toBe(2);
    const aRows = await db.query<{ status: string; attempts: number }>(`SELECT status, attempts FROM outbox WHERE client_id = $1`, [a.clientId]);
    expect(aRows.filter((r) => r.status === 'sending')).toHaveLength(2);
    expect(aRows.reduce((sum, r) => sum + r.attempts, 0)).toBe(2); // the four held back spent no try
    expect(await db.query(`SELECT count(*)::int AS n FROM outbox_attempts WHERE outbox_id LIKE 'whk_A%'`)).toEqual([{ n: 0 }]);

    const started = Date.now();
    await queueDueWebhooks(['whk_B0'], b.clientId, stack.hooks);
    const [got] = await stack.hooks.waitFor(1, 3000);
    expect(got.json).toEqual({ id: 'whk_B0' });
    expect(Date.now() - started).toBeLessThan(3000); // A's two tries hang until 5 s after they began, 1.5 s or more ago
  });
});
