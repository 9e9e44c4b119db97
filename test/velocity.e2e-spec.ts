// Issue 10, item 5: velocity over PostgreSQL state, exact across instances: starts per end-user IP and device
// (endUser, default 10 an hour each), per number prefix and per client (off by default), answered 429
// rate_limited naming the limit with Retry-After; and "many accounts per number": a number verified for more
// than RISK_MANY_ACCOUNTS_MAX accounts (endUser.accountRef, stored only as a keyed hash) or clients within
// RISK_MANY_ACCOUNTS_WINDOW_DAYS is many_accounts_per_number, decision screen (202 screening) or deny (403).
import { ApprovalFolding } from '../src/risk/approval-folding';
import { FakeClock } from './support/fake-clock';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { codeSentTo, messagesTo } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { waitFor } from './support/wait';

const HOUR = 3600_000;

/** Numbers spread over many prefixes (so that no prefix rule answers first). */
let k = 0;
const spread = () => `+8170${String(10_000_000 + ((k++ * 104_729) % 89_999_999)).slice(-8)}`;

describe('velocity per end-user IP and device (two instances)', () => {
  let s: SmsStack;
  let clock: FakeClock;
  let c: { key: string; clientId: string };

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    s = await startSmsStack({ instances: 2, clock, env: { THROTTLE_LIMIT: '100000' } });
    c = await s.t.createClient(['verifications:write', 'verifications:check']);
  });
  afterAll(async () => s?.close());

  const start = (endUser: Record<string, unknown> | undefined, i = 0, phoneNumber = spread()) =>
    s.apps[i % 2].request('POST', '/v1/verifications', { key: c.key, body: { phoneNumber, purpose: 'login', ...(endUser ? { endUser } : {}) } });

  it('10 starts an hour from one IP pass, the 11th is 429 ip_starts_1h with Retry-After; another IP and starts without endUser pass', async () => {
    for (let i = 0; i < 10; i++) expect((await start({ ip: '203.0.113.7' }, i)).status).toBe(201);
    const res = await start({ ip: '203.0.113.7' });
    expectProblem(res, 429, 'rate_limited');
    expect(res.body.limit).toBe('ip_starts_1h');
    expect(res.body.detail).toMatch(/IP: at most 10 per hour/);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(50 * 60);
    expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(3600);
    expect((await start({ ip: '203.0.113.8' })).status).toBe(201);
    expect((await start(undefined)).status).toBe(201);
    // An hour on, the IP's starts have left the window.
    clock.advance(Number(res.headers.get('retry-after')) * 1000);
    expect((await start({ ip: '203.0.113.7' })).status).toBe(201);
  });

  it('an IPv6 end user counts by its /64', async () => {
    for (let i = 0; i < 10; i++) expect((await start({ ip: `2001:db8:77:1::${i + 1}` }, i)).status).toBe(201);
    const res = await start({ ip: '2001:db8:77:1:ffff::9' });
    expectProblem(res, 429, 'rate_limited');
    expect(res.body.limit).toBe('ip_starts_1h');
    expect((await start({ ip: '2001:db8:77:2::1' })).status).toBe(201);
  });

  it('10 starts an hour from one device pass (any IP), the 11th is 429 device_starts_1h; the same device id of another client is another device', async () => {
    for (let i = 0; i < 10; i++) expect((await start({ deviceId: 'd-77f3a9', ip: `198.51.100.${i + 1}` }, i)).status).toBe(201);
    const res = await start({ deviceId: 'd-77f3a9', ip: '198.51.100.99' });
    expectProblem(res, 429, 'rate_limited');
    expect(res.body.limit).toBe('device_starts_1h');
    const other = await s.t.createClient(['verifications:write']);
    expect((await s.t.request('POST', '/v1/verifications', { key: other.key, body: { phoneNumber: spread(), purpose: 'login', endUser: { deviceId: 'd-77f3a9' } } })).status).toBe(201);
    // The device id is stored only as a keyed hash.
    const units = await s.db.query<{ unit: string }>(`SELECT unit FROM risk_unit_counts WHERE kind = 'device'`);
    expect(units.length).toBeGreaterThan(0);
    expect(units.every((u) => /^[0-9a-f]{32}$/.test(u.unit))).toBe(true);
  });

  it('the limit is exact across instances: 20 simultaneous starts from one IP, over two instances, admit exactly 10', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => start({ ip: '192.0.2.200' }, i)));
    expect(answers.filter((r) => r.status === 201)).toHaveLength(10);
    expect(answers.filter((r) => r.status === 429).every((r) => r.body.limit === 'ip_starts_1h')).toBe(true);
    expect(answers.filter((r) => r.status === 429)).toHaveLength(10);
  });

  it.each([
    ['an IP that is no address', { ip: 'not-an-ip' }, 'endUser.ip'],
    ['an IPv4 address out of range', { ip: '999.1.1.1' }, 'endUser.ip'],
    ['an IP that is not a string', { ip: 2130706433 }, 'endUser.ip'],
    ['an empty deviceId', { deviceId: '' }, 'endUser.deviceId'],
    ['a deviceId of 129 characters', { deviceId: 'd'.repeat(129) }, 'endUser.deviceId'],
    ['a deviceId with a space', { deviceId: 'd 1' }, 'endUser.deviceId'],
    ['an accountRef of 129 characters', { accountRef: 'a'.repeat(129) }, 'endUser.accountRef'],
    ['an accountRef with a control character', { accountRef: 'acct\u0007' }, 'endUser.accountRef'],
    ['an accountRef that is not a string', { accountRef: 1234 }, 'endUser.accountRef'],
    ['an unknown field', { ip: '203.0.113.9', name: 'x' }, 'endUser.name'],
  ])('%s: 400 validation_failed naming the field, nothing written', async (_, endUser, field) => {
    // Summed per bucket: the background fold may meanwhile collapse a closed bucket's shard rows into one (same sums).
    const starts = `SELECT kind, unit, bucket, sum(started)::int AS started FROM risk_unit_counts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`;
    const counted = await s.db.query(starts);
    const before = await s.db.query(`SELECT count(*) FROM verifications`);
    const res = await start(endUser);
    expectProblem(res, 400, 'validation_failed');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await s.db.query(`SELECT count(*) FROM verifications`)).toEqual(before);
    expect(await s.db.query(starts)).toEqual(counted);
  });

  it('endUser must be an object', async () => {
    const res = await s.t.request('POST', '/v1/verifications', { key: c.key, body: { phoneNumber: spread(), purpose: 'login', endUser: 'x' } });
    expectProblem(res, 400, 'validation_failed');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain('endUser');
  });
});

describe('velocity per number prefix and per client (when configured)', () => {
  let s: SmsStack;

  beforeAll(async () => {
    s = await startSmsStack({ env: { THROTTLE_LIMIT: '100000', RISK_PREFIX_STARTS_PER_HOUR: '5', RISK_CLIENT_STARTS_PER_HOUR: '8' } });
  });
  afterAll(async () => s?.close());

  const start = (key: string, phoneNumber: string) => s.t.request('POST', '/v1/verifications', { key, body: { phoneNumber, purpose: 'login' } });

  it('RISK_PREFIX_STARTS_PER_HOUR: the 6th start under one prefix is 429 prefix_starts_1h; another prefix passes', async () => {
    const c = await s.t.createClient(['verifications:write']);
    for (let i = 0; i < 5; i++) expect((await start(c.key, `+81709876000${i}`)).status).toBe(201);
    const res = await start(c.key, '+817098760009');
    expectProblem(res, 429, 'rate_limited');
    expect(res.body.limit).toBe('prefix_starts_1h');
    expect((await start(c.key, '+817098770000')).status).toBe(201);
  });

  it('RISK_CLIENT_STARTS_PER_HOUR: the 9th start of one client is 429 client_starts_1h; another client passes', async () => {
    const c = await s.t.createClient(['verifications:write']);
    for (let i = 0; i < 8; i++) expect((await start(c.key, spread())).status).toBe(201);
    const res = await start(c.key, spread());
    expectProblem(res, 429, 'rate_limited');
    expect(res.body.limit).toBe('client_starts_1h');
    const other = await s.t.createClient(['verifications:write']);
    expect((await start(other.key, spread())).status).toBe(201);
  });
});

describe('many accounts per number', () => {
  let s: SmsStack;
  let clock: FakeClock;

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    s = await startSmsStack({ clock, env: { THROTTLE_LIMIT: '100000', PHONE_SENDS_PER_15_MIN: '100', PHONE_SENDS_PER_24_H: '100' } });
  });
  afterAll(async () => s?.close());

  const client = () => s.t.createClient(['verifications:write', 'verifications:check']);
  const start = (key: string, phoneNumber: string, accountRef?: string) =>
    s.t.request('POST', '/v1/verifications', { key, body: { phoneNumber, purpose: 'login', ...(accountRef ? { endUser: { accountRef } } : {}) } });
  /** A start, and its code checked: the number verified for that account. */
  const verify = async (key: string, phone: string, accountRef?: string) => {
    const nth = messagesTo(s.sms, phone).length + 1;
    const res = await start(key, phone, accountRef);
    expect(res.status).toBe(201);
    const code = await codeSentTo(s.sms, phone, { nth });
    const check = await s.t.request('POST', `/v1/verifications/${res.body.id}/check`, { key, body: { code } });
    expect(check.body.status).toBe('approved');
    // its verified volume counted now, not within the second (RISK_APPROVALS_FOLD_INTERVAL_MS): the starts here come
    // milliseconds apart, and the prefix's unverified codes must not look like pumping
    await s.apps[0].app.get(ApprovalFolding).foldNow();
  };

  it('a number verified for 3 accounts passes; a 4th account is 202 screening (many_accounts_per_number); the same accounts again pass', async () => {
    const c = await client();
    const phone = freshPhone();
    for (const acct of ['acct-1', 'acct-2', 'acct-3']) await verify(c.key, phone, acct);
    const fourth = await start(c.key, phone, 'acct-4');
    expect(fourth.status).toBe(202);
    expect(fourth.body).toMatchObject({ status: 'screening', risk: { decision: 'screen', reasons: ['many_accounts_per_number'] } });
    const [row] = await s.db.query<{ status: string; risk: any; sends: number }>(`SELECT status, risk, sends FROM verifications WHERE id = $1`, [fourth.body.id]);
    expect(row).toMatchObject({ status: 'screening', sends: 0 });
    expect(row.risk.rules).toEqual([
      { rule: 'many_accounts', reason: 'many_accounts_per_number', accounts: 4, clients: 1, max: 3, windowDays: 30, action: 'screen' },
      // …which makes a voice contract required for this start: a check of the number was started.
      { rule: 'voice_contract', reason: 'voice_contract_required', mode: 'require', status: 'none', checkedAt: null, checkId: null },
    ]);
    expect(row.risk.voiceContract).toMatchObject({ status: 'checking', method: 'ivr_outbound', startedNow: true });
    // No code went out for it.
    expect((await s.db.query(`SELECT 1 FROM outbox WHERE verification_id = $1`, [fourth.body.id]))).toEqual([]);

    // The verified accounts, again and again, pass.
    for (const acct of ['acct-1', 'acct-3', 'acct-1']) await verify(c.key, phone, acct);
    // Starts without an account reference are the client's own: they pass too.
    expect((await start(c.key, phone)).status).toBe(201);
    // A 4th account of another number with 3 accounts passes: nothing is shared between numbers.
    const other = freshPhone();
    for (const acct of ['acct-1', 'acct-2', 'acct-4']) await verify(c.key, other, acct);
  });

  it('a number verified by 3 clients passes; a 4th client is screened', async () => {
    const phone = freshPhone();
    const clients = [await client(), await client(), await client(), await client()];
    for (const c of clients.slice(0, 3)) await verify(c.key, phone);
    const res = await start(clients[3].key, phone);
    expect(res.status).toBe(202);
    expect(res.body.risk).toEqual({ decision: 'screen', reasons: ['many_accounts_per_number'] });
    // The three clients verifying it again pass.
    expect((await start(clients[0].key, phone)).status).toBe(201);
  });

  it('only verified accounts count, within RISK_MANY_ACCOUNTS_WINDOW_DAYS (30)', async () => {
    const c = await client();
    const phone = freshPhone();
    // Started for many accounts, never verified: nothing counts.
    for (const acct of ['x-1', 'x-2', 'x-3', 'x-4', 'x-5']) expect((await start(c.key, phone, acct)).status).toBe(201);
    // (their messages sent or dropped as superseded, before the next codes are read)
    await waitFor(async () => (await s.db.query(`SELECT 1 FROM outbox o JOIN verifications v ON v.id = o.verification_id WHERE v.phone_e164 = $1 AND o.status IN ('pending', 'sending')`, [phone])).length === 0, { what: 'the messages of the unverified starts' });
    for (const acct of ['acct-1', 'acct-2', 'acct-3']) await verify(c.key, phone, acct);
    expect((await start(c.key, phone, 'acct-4')).status).toBe(202);
    clock.advance(31 * 24 * HOUR);
    expect((await start(c.key, phone, 'acct-4')).status).toBe(201);
  });

  it('the account reference never reaches the database, the audit trail or the logs in clear', async () => {
    const c = await client();
    const phone = freshPhone();
    const secret = 'acct-PLAINTEXT-7f3e1b';
    await verify(c.key, phone, secret);
    const [stored] = await s.db.query<{ account_ref_hash: Buffer }>(
      `SELECT n.account_ref_hash FROM risk_number_accounts n WHERE n.phone_e164 = $1 AND n.client_id = $2`,
      [phone, c.clientId],
    );
    expect(stored.account_ref_hash).toHaveLength(32);
    expect(stored.account_ref_hash.toString('latin1')).not.toContain(secret);
    const tables = await s.db.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
    for (const { table_name } of tables) {
      const hits = await s.db.query(`SELECT 1 FROM "${table_name}" t WHERE row_to_json(t)::text LIKE $1 LIMIT 1`, [`%${secret}%`]);
      expect([table_name, hits]).toEqual([table_name, []]);
    }
    expect(s.t.logs.some((l) => l.includes(secret))).toBe(false);
  });
});

describe('many accounts per number with RISK_MANY_ACCOUNTS_ACTION=deny', () => {
  let s: SmsStack;

  beforeAll(async () => {
    s = await startSmsStack({ env: { THROTTLE_LIMIT: '100000', RISK_MANY_ACCOUNTS_ACTION: 'deny', RISK_MANY_ACCOUNTS_MAX: '2' } });
  });
  afterAll(async () => s?.close());

  it('a 3rd account (RISK_MANY_ACCOUNTS_MAX=2) is 403 risk_denied many_accounts_per_number, audited as risk.denied', async () => {
    const c = await s.t.createClient(['verifications:write', 'verifications:check']);
    const phone = freshPhone();
    for (const accountRef of ['a-1', 'a-2']) {
      const nth = messagesTo(s.sms, phone).length + 1;
      const res = await s.t.request('POST', '/v1/verifications', { key: c.key, body: { phoneNumber: phone, purpose: 'login', endUser: { accountRef } } });
      const code = await codeSentTo(s.sms, phone, { nth });
      expect((await s.t.request('POST', `/v1/verifications/${res.body.id}/check`, { key: c.key, body: { code } })).body.status).toBe('approved');
    }
    const res = await s.t.request('POST', '/v1/verifications', { key: c.key, body: { phoneNumber: phone, purpose: 'login', endUser: { accountRef: 'a-3' } } });
    expectProblem(res, 403, 'risk_denied');
    expect(res.body.reasons).toEqual(['many_accounts_per_number']);
    const [denied] = await s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'risk.denied' AND client_id = $1`, [c.clientId]);
    expect(denied.data.risk).toEqual({
      decision: 'deny',
      reasons: ['many_accounts_per_number'],
      rules: [{ rule: 'many_accounts', reason: 'many_accounts_per_number', accounts: 3, clients: 1, max: 2, windowDays: 30, action: 'deny' }],
    });
    expect(JSON.stringify(denied.data)).not.toContain('a-3');
    // A known account passes.
    expect((await s.t.request('POST', '/v1/verifications', { key: c.key, body: { phoneNumber: phone, purpose: 'login', endUser: { accountRef: 'a-1' } } })).status).toBe(201);
  });
});
