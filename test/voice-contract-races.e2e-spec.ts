// Voice-contract checks when a start and a check's decision meet: a start that joins an open check while that check
// is being decided must be decided with it, never left in `screening` with nothing left to release it. Real HTTP both
// ways (the fake Twilio's signed callbacks, held at a gate the test opens), a real PostgreSQL, locks held in psql.
import { createServer, IncomingMessage, Server } from 'node:http';
import { Client } from 'pg';
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import { VoiceContractsService } from '../src/risk/voice-contracts.service';
import { startTestApp, TestApp } from './support/app';
import { FakeClock } from './support/fake-clock';
import { FakeTwilio, startFakeTwilio } from './support/fake-twilio';
import { freshPhone } from './support/phones';
import { codeSentTo } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { waitFor } from './support/wait';

/**
 * Holds every request it gets until it is let through, then passes it on to `target`, as it came: `open()` lets all
 * through, now and later; `letThrough(test)` only those whose path and query pass `test` (a check's `ref=`, say).
 */
async function startGate(
  target: () => string,
): Promise<{ url: string; held: () => number; open(): void; shut(): void; letThrough(test: (url: string) => boolean): void; close(): Promise<void> }> {
  let passes: (url: string) => boolean = () => false;
  let waiting: Array<{ url: string; go: () => void }> = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const pass = async () => {
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k))) as Record<string, string>;
        const answer = await fetch(target() + req.url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
        res.end(Buffer.from(await answer.arrayBuffer()));
      };
      const go = () => void pass().catch(() => res.destroy());
      const url = req.url ?? '';
      if (passes(url)) go();
      else waiting.push({ url, go });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const letThrough = (test: (url: string) => boolean) => {
    const earlier = passes;
    passes = (url) => earlier(url) || test(url);
    const now = waiting.filter((w) => passes(w.url));
    waiting = waiting.filter((w) => !passes(w.url));
    for (const w of now) w.go();
  };
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    held: () => waiting.length,
    open: () => letThrough(() => true),
    /** Holds every request from now on again (those already passed on are not called back). */
    shut: () => {
      passes = () => false;
    },
    letThrough,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('voice-contract checks: a start that joins a check while it is being decided', () => {
  let fake: FakeTwilio;
  let s: SmsStack;
  let t: TestApp;
  let gate: Awaited<ReturnType<typeof startGate>>;
  let first: { key: string; clientId: string };
  let second: { key: string; clientId: string };

  beforeAll(async () => {
    fake = await startFakeTwilio();
    // The decision waits on the outbox the test locks while a second start goes in: on a loaded machine that can take
    // longer than the default statement timeout, which would fail the callback (the fake, like Twilio, sends it once).
    s = await startSmsStack({ env: { ...fake.env(), THROTTLE_LIMIT: '100000', OUTBOX_POLL_INTERVAL_MS: '3600000', DATABASE_STATEMENT_TIMEOUT_MS: '30000' } });
    t = s.t;
    gate = await startGate(() => t.url);
    fake.deliverTo = gate.url;
    const admin = await t.createClient(['admin']);
    const requiring = async () => {
      const c = await t.createClient(['verifications:write', 'verifications:check']);
      expect((await t.request('PUT', `/v1/admin/clients/${c.clientId}/policy`, { key: admin.key, body: { voiceContract: { default: 'require' } } })).status).toBe(200);
      return c;
    };
    first = await requiring();
    second = await requiring();
  });
  afterAll(async () => {
    gate?.open();
    await s?.close();
    await gate?.close();
    await fake?.close();
  });

  const start = (key: string, phoneNumber: string) => t.request('POST', '/v1/verifications', { key, body: { phoneNumber, purpose: 'login' } });
  const status = async (key: string, id: string) => (await t.request('GET', `/v1/verifications/${id}`, { key })).body.status;

  it('gets its code too: the decision holds the number, so the start waits and reads it (or commits first and is released with the rest)', async () => {
    const phone = freshPhone();
    fake.script(phone, 'press');
    const a = await start(first.key, phone);
    expect(a.status).toBe(202);
    // The call is placed; the person's key press (its callbacks) waits at the gate.
    await waitFor(() => gate.held() > 0, { what: 'the check call\'s first callback at the gate' });

    // The decision is held after it looked for the number's waiting verifications, at the code message it queues.
    const psql = new Client({ connectionString: s.db.url });
    await psql.connect();
    // Who waits is read on the test's own connection, outside psql's transaction: pg_stat_activity is read once per
    // transaction, so inside it a connection the pool opens later (the second start's, say) would never show.
    const waitingOn = async (what: string) =>
      (await s.db.query(`SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.datname = current_database() AND a.application_name = 'otp-verify' AND ${what}`)).length;
    try {
      // the dispatcher's write of the call's outcome to the outbox done first: then the decision's is the only
      // statement that can wait on the table
      const calls = async () => (await psql.query<{ status: string }>(`SELECT status FROM outbox WHERE kind = 'check_call'`)).rows.map((r) => r.status);
      await waitFor(async () => (await calls()).every((c) => c === 'done') && (await calls()).length > 0, { what: 'the check call recorded as placed' });
      await psql.query('BEGIN; LOCK TABLE outbox IN EXCLUSIVE MODE');
      gate.open();
      await waitFor(() => waitingOn(`l.relation = 'outbox'::regclass`), { what: 'the decision waiting to queue the code' });

      // A second client's start for the number meanwhile: it reads the check as still open (the decision has not
      // committed). It must not commit a verification that the decision will not see.
      let answered = false;
      const b = start(second.key, phone).finally(() => (answered = true));
      // (waiting for the number's lock, or for a row the decision holds: a second backend of the service waiting)
      const waiters = async () =>
        (await s.db.query(`SELECT DISTINCT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.datname = current_database() AND a.application_name = 'otp-verify'`)).length;
      await waitFor(async () => answered || (await waiters()) >= 2, { what: 'the second start answered, or waiting on the decision' });
      await psql.query('COMMIT');

      const b2 = await b;
      expect([201, 202]).toContain(b2.status);
      // Both get their code: the first released by the decision, the second with it or by reading it.
      let seen = '';
      await waitFor(
        async () => {
          const checks = await s.db.query<{ status: string }>(`SELECT status FROM voice_contract_checks ORDER BY created_at`);
          seen = `${await status(first.key, a.body.id)}, checks ${checks.map((c) => c.status).join(' ')}, callbacks held ${gate.held()}`;
          return seen.startsWith('pending,');
        },
        { what: () => `the first verification released (last seen: ${seen})` },
      );
      await waitFor(async () => (await status(second.key, b2.body.id)) === 'pending', { timeoutMs: 5000, what: 'the second verification released' });
      await codeSentTo(s.sms, phone, { nth: 2 });
    } finally {
      await psql.query('ROLLBACK').catch(() => undefined);
      await psql.end();
    }
  });
});

describe('voice-contract checks: the database failing just after a check call was placed', () => {
  let fake: FakeTwilio;
  let s: SmsStack;
  let t: TestApp;
  let clock: FakeClock;
  let requiring: { key: string; clientId: string };

  beforeAll(async () => {
    fake = await startFakeTwilio();
    clock = new FakeClock(Date.now());
    s = await startSmsStack({ env: { ...fake.env(), THROTTLE_LIMIT: '100000', OUTBOX_POLL_INTERVAL_MS: '3600000', DATABASE_STATEMENT_TIMEOUT_MS: '1000' }, clock });
    t = s.t;
    fake.deliverTo = t.url;
    const admin = await t.createClient(['admin']);
    requiring = await t.createClient(['verifications:write', 'verifications:check']);
    expect((await t.request('PUT', `/v1/admin/clients/${requiring.clientId}/policy`, { key: admin.key, body: { voiceContract: { default: 'require' } } })).status).toBe(200);
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  it('does not place the call again: the outbox row is done with the call id, and no retry calls the person', async () => {
    const phone = freshPhone();
    fake.script(phone, 'press');
    const psql = new Client({ connectionString: s.db.url });
    await psql.connect();
    try {
      // The call's own record cannot be written (its INSERT waits here past the statement timeout); the rest can.
      await psql.query('BEGIN; LOCK TABLE voice_calls IN SHARE MODE');
      const res = await t.request('POST', '/v1/verifications', { key: requiring.key, body: { phoneNumber: phone, purpose: 'login' } });
      expect(res.status).toBe(202);
      // settled: done (the call recorded as placed), or back to pending for a retry
      const row = await waitFor(
        async () => (await s.db.query<{ status: string; provider_message_id: string | null }>(`SELECT status, provider_message_id FROM outbox WHERE kind = 'check_call'`)).find((r) => r.status !== 'sending'),
        { what: 'the check call attempted' },
      );
      await psql.query('ROLLBACK');
      expect(fake.requests.filter((r) => r.form.some(([k, v]) => k === 'To' && v === phone))).toHaveLength(1);
      expect(row).toEqual({ status: 'done', provider_message_id: fake.calls.find((c) => c.to === phone)!.sid });

      // The retry delay passes: nothing is due, and the person is not called again.
      clock.advance(60_000);
      await t.app.get(OutboxDispatcher).pollOnce();
      await fake.finishedCallTo(phone);
      expect(fake.calls.filter((c) => c.to === phone)).toHaveLength(1);
      // The call's callbacks (after the lock) wrote its record, and its key press released the verification.
      await waitFor(async () => (await t.request('GET', `/v1/verifications/${res.body.id}`, { key: requiring.key })).body.status === 'pending', { what: 'the verification released' });
    } finally {
      await psql.query('ROLLBACK').catch(() => undefined);
      await psql.end();
    }
  });
});

describe('voice-contract checks: a late "unknown" of an older check', () => {
  let fake: FakeTwilio;
  let s: SmsStack;
  let t: TestApp;
  let gate: Awaited<ReturnType<typeof startGate>>;
  let clock: FakeClock;
  let requiring: { key: string; clientId: string };

  beforeAll(async () => {
    fake = await startFakeTwilio();
    clock = new FakeClock(Date.now());
    // no retry call: one call that finds nothing decides `unknown`
    s = await startSmsStack({ env: { ...fake.env(), THROTTLE_LIMIT: '100000', OUTBOX_POLL_INTERVAL_MS: '3600000', RISK_VOICE_CHECK_RETRIES: '0' }, clock });
    t = s.t;
    gate = await startGate(() => t.url);
    fake.deliverTo = gate.url;
    const admin = await t.createClient(['admin']);
    requiring = await t.createClient(['verifications:write', 'verifications:check']);
    const policy = { voiceContract: { default: 'require', onUnknown: 'deny' } };
    expect((await t.request('PUT', `/v1/admin/clients/${requiring.clientId}/policy`, { key: admin.key, body: policy })).status).toBe(200);
  });
  afterAll(async () => {
    gate?.open();
    await s?.close();
    await gate?.close();
    await fake?.close();
  });

  const start = (phoneNumber: string) => t.request('POST', '/v1/verifications', { key: requiring.key, body: { phoneNumber, purpose: 'login' } });
  const status = async (id: string) => (await t.request('GET', `/v1/verifications/${id}`, { key: requiring.key })).body.status;
  const checks = async (phone: string) =>
    (await s.db.query<{ id: string }>(`SELECT id FROM voice_contract_checks WHERE phone_masked LIKE $1 ORDER BY created_at`, [`%${phone.slice(-4)}`])).map((r) => r.id);

  it('does not deny a verification waiting on a newer check of the number, which then confirms it', async () => {
    const phone = freshPhone();
    fake.script(phone, 'no-answer');
    const first = await start(phone);
    expect(first.status).toBe(202);
    await waitFor(() => gate.held() > 0, { what: 'the first check\'s callbacks at the gate' });

    // The first check outlives its window (its callbacks late); a start after it opens a second check.
    clock.advance(901_000);
    fake.script(phone, 'press');
    const second = await start(phone);
    expect(second.status).toBe(202);
    const [c1, c2] = await waitFor(async () => ((await checks(phone)).length === 2 ? checks(phone) : undefined), { what: 'two checks of the number' });

    // The first check's call ends unanswered now: unknown. It says nothing about the number: the second still calls.
    gate.letThrough((url) => url.includes(c1));
    await waitFor(async () => (await s.db.query(`SELECT 1 FROM voice_contract_checks WHERE id = $1 AND status = 'unknown'`, [c1])).length, { what: 'the first check decided' });
    expect(await status(second.body.id)).toBe('screening');

    // The second check's call: the key is pressed; the verification waiting on it is released.
    gate.letThrough((url) => url.includes(c2));
    await waitFor(async () => (await status(second.body.id)) === 'pending', { what: 'the second verification released' });
  });
});

describe('voice-contract checks whose call never reports back', () => {
  let fake: FakeTwilio;
  let s: SmsStack;
  let t: TestApp;
  let gate: Awaited<ReturnType<typeof startGate>>;
  let clock: FakeClock;
  let denying: { key: string; clientId: string };
  let allowing: { key: string; clientId: string };

  beforeAll(async () => {
    fake = await startFakeTwilio();
    clock = new FakeClock(Date.now());
    s = await startSmsStack({ env: { ...fake.env(), THROTTLE_LIMIT: '100000', OUTBOX_POLL_INTERVAL_MS: '3600000', EXPIRY_SWEEP_INTERVAL_MS: '3600000' }, clock });
    t = s.t;
    gate = await startGate(() => t.url);
    fake.deliverTo = gate.url;
    const admin = await t.createClient(['admin']);
    const client = async (onUnknown: string) => {
      const c = await t.createClient(['verifications:write', 'verifications:check']);
      expect((await t.request('PUT', `/v1/admin/clients/${c.clientId}/policy`, { key: admin.key, body: { voiceContract: { default: 'require', onUnknown } } })).status).toBe(200);
      return c;
    };
    denying = await client('deny');
    allowing = await client('allow');
  });
  afterAll(async () => {
    gate?.open();
    await s?.close();
    await gate?.close();
    await fake?.close();
  });

  const start = (key: string, phoneNumber: string) => t.request('POST', '/v1/verifications', { key, body: { phoneNumber, purpose: 'login' } });
  const status = async (key: string, id: string) => (await t.request('GET', `/v1/verifications/${id}`, { key })).body.status;

  it('is decided unknown once its window has passed: a verification that joined it follows onUnknown, and the number is no longer kept', async () => {
    const phone = freshPhone();
    fake.script(phone, 'press');
    const first = await start(denying.key, phone);
    expect(first.status).toBe(202);
    await waitFor(() => gate.held() > 0, { what: 'the call\'s callbacks (held: they never reach the service)' });
    const [{ id: checkId }] = await s.db.query<{ id: string }>(`SELECT id FROM voice_contract_checks WHERE status = 'checking' AND phone_masked LIKE $1`, [`%${phone.slice(-4)}`]);

    // Another client's start joins the open check ten minutes in; it may wait until its own window ends.
    clock.advance(600_000);
    const joined = await start(allowing.key, phone);
    expect(joined.status).toBe(202);

    // Before the window ends, the sweep leaves the check alone.
    clock.advance(299_000);
    expect(await t.app.get(VoiceContractsService).sweepStale()).toBe(0);
    clock.advance(1_000);
    expect(await t.app.get(VoiceContractsService).sweepStale()).toBe(1);

    const [check] = await s.db.query<{ status: string; sealed: boolean }>(`SELECT status, phone_sealed IS NOT NULL AS sealed FROM voice_contract_checks WHERE id = $1`, [checkId]);
    expect(check).toEqual({ status: 'unknown', sealed: false });
    // The one that joined is released (onUnknown allow) and gets its code; the first one's window ended with the check's.
    await waitFor(async () => (await status(allowing.key, joined.body.id)) === 'pending', { what: 'the joined verification released' });
    await codeSentTo(s.sms, phone);
    expect(await status(denying.key, first.body.id)).toBe('expired');
    const [decided] = await s.db.query<{ data: Record<string, unknown> }>(`SELECT data FROM audit_events WHERE type = 'voice_contract.decided' AND data->>'checkId' = $1`, [checkId]);
    expect(decided.data).toMatchObject({ status: 'unknown', calls: 0 });

    // The call's late callbacks change nothing now.
    gate.open();
    await fake.finishedCallTo(phone);
    expect((await s.db.query<{ status: string }>(`SELECT status FROM voice_contract_checks WHERE id = $1`, [checkId]))[0].status).toBe('unknown');
    expect(await status(allowing.key, joined.body.id)).toBe('pending');
  });

  it('a stale check whose number this instance cannot unseal (its key rotated out) is closed too, and holds back none after it', async () => {
    // An instance whose OTP_HMAC_KEYS (which also key the sealed numbers) no longer hold the first one's key.
    const other = await startTestApp(s.db.url, { ...fake.env(), SMS_PROVIDER: 'http', SMS_HTTP_URL: `${s.sms.url}/sms`, THROTTLE_LIMIT: '100000', OUTBOX_POLL_INTERVAL_MS: '3600000', EXPIRY_SWEEP_INTERVAL_MS: '3600000', OTP_HMAC_KEYS: 'k9:' + '9c'.repeat(32) }, clock);
    // the calls of this test never report back (the previous test let every callback through)
    gate.shut();
    try {
      const older = freshPhone();
      const newer = freshPhone();
      expect((await start(denying.key, older)).status).toBe(202); // sealed under the stack's key
      clock.advance(1_000);
      expect((await other.request('POST', '/v1/verifications', { key: allowing.key, body: { phoneNumber: newer, purpose: 'login' } })).status).toBe(202);
      const open = async () => (await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM voice_contract_checks WHERE status = 'checking'`))[0].n;
      expect(await open()).toBe(2);

      clock.advance(900_000);
      expect(await other.app.get(VoiceContractsService).sweepStale()).toBe(2);
      expect(await open()).toBe(0);
      const decided = await s.db.query<{ data: Record<string, unknown> }>(`SELECT data FROM audit_events WHERE type = 'voice_contract.decided' ORDER BY seq DESC LIMIT 2`);
      expect(decided.map((d) => d.data.numberUnreadable ?? false).sort()).toEqual([false, true]);
      expect(other.logs.join('')).toMatch(/could not be unsealed/);
    } finally {
      await other.close();
    }
  });
});
