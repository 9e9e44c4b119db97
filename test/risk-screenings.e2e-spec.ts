// Issue 10, item 1: POST /v1/risk/screenings (scope risk:read): a number judged as a start would be (policy,
// blocklist, per-number velocity, the start limits per end-user IP, device, prefix and client with `endUser`,
// pumping suspensions, many accounts per number, voice-contract record), counting nothing and starting nothing;
// with startVoiceCheck a check call starts (202, status checking) and its result shows on the next screening.
import type { TestApp } from './support/app';
import { FakeTwilio, startFakeTwilio } from './support/fake-twilio';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { codeSentTo, messagesTo } from './support/scenario';
import { SmsStack, Stack, startSmsStack, startStack } from './support/stack';
import { waitFor } from './support/wait';

/** Numbers spread over many prefixes (so that no prefix limit or pumping rule answers unless a test means it). */
let k = 0;
const spread = () => `+8170${String(10_000_000 + ((k++ * 104_729) % 89_999_999)).slice(-8)}`;
/** A fresh mobile number under an 8-digit prefix (`81702345` → +81702345nnnn). */
let u = 0;
const under = (prefix: string) => `+${prefix}${String(u++ % 10_000).padStart(4, '0')}`;

describe('POST /v1/risk/screenings', () => {
  let fake: FakeTwilio;
  let s: Stack;
  let t: TestApp;
  let admin: { key: string };
  let risk: { key: string; clientId: string; keyId: string };
  let writer: { key: string };

  beforeAll(async () => {
    fake = await startFakeTwilio();
    s = await startStack({ env: { ...fake.env(), THROTTLE_LIMIT: '100000', PHONE_SENDS_PER_15_MIN: '2' } });
    t = s.t;
    fake.deliverTo = t.url;
    admin = await t.createClient(['admin']);
    risk = await t.createClient(['risk:read', 'verifications:write']);
    writer = await t.createClient(['verifications:write']);
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  const screen = (body: Record<string, unknown>, key = risk.key) => t.request('POST', '/v1/risk/screenings', { key, body });
  const none = { status: 'none', method: null, checkedAt: null, expiresAt: null };

  it('a normal number: 200 allow, normalized E.164 (not masked), its type, no record; audited as risk.screened', async () => {
    const res = await screen({ phoneNumber: '090-1234-5601', country: 'jp', purpose: 'transfer' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ phoneNumber: '+819012345601', country: 'JP', numberType: 'mobile', decision: 'allow', reasons: [], voiceContract: none });
    const [event] = await s.db.query<{ actor_id: string; phone_masked: string; data: any }>(`SELECT actor_id, phone_masked, data FROM audit_events WHERE type = 'risk.screened' ORDER BY occurred_at DESC LIMIT 1`);
    expect(event).toMatchObject({ actor_id: risk.keyId, phone_masked: '+81*******5601', data: { risk: { decision: 'allow', reasons: [] }, channel: 'sms', purpose: 'transfer', startVoiceCheck: false } });
  });

  it('the rules a start would apply: number type, country, blocklist, each with its reason', async () => {
    expect((await screen({ phoneNumber: '+812012345678' })).body).toMatchObject({ numberType: 'm2m', decision: 'deny', reasons: ['number_type_not_allowed'] });
    expect((await screen({ phoneNumber: '+447400123456' })).body).toMatchObject({ country: 'GB', decision: 'deny', reasons: ['country_not_allowed'] });
    const blocked = freshPhone();
    expect((await t.request('POST', '/v1/admin/blocklist', { key: admin.key, body: { number: blocked, reason: 'fraud case 1' } })).status).toBe(201);
    expect((await screen({ phoneNumber: blocked })).body).toMatchObject({ decision: 'deny', reasons: ['blocklisted'] });
  });

  it('400 for what a start would refuse as input, and 403 without the risk:read scope', async () => {
    expectProblem(await screen({ phoneNumber: '+8190123' }), 400, 'invalid_phone_number');
    expectProblem(await screen({ phoneNumber: '+81120123456' }), 400, 'unsupported_number_type');
    expectProblem(await screen({ phoneNumber: freshPhone(), startVoiceCheck: 'yes' }), 400, 'validation_failed');
    expectProblem(await screen({ phoneNumber: freshPhone(), extra: 1 }), 400, 'validation_failed');
    expectProblem(await screen({ phoneNumber: freshPhone() }, writer.key), 403, 'forbidden');
  });

  it('velocity is read, never counted: screenings cost the number nothing, and a number at its limit is velocity_exceeded', async () => {
    const phone = freshPhone();
    for (let i = 0; i < 5; i++) expect((await screen({ phoneNumber: phone })).body.decision).toBe('allow');
    for (let i = 0; i < 2; i++) expect((await t.request('POST', '/v1/verifications', { key: risk.key, body: { phoneNumber: phone, purpose: 'login' } })).status).toBe(201);
    expect((await screen({ phoneNumber: phone })).body).toMatchObject({ decision: 'deny', reasons: ['velocity_exceeded'] });
  });

  it('startVoiceCheck: 202 checking, the number is called, and the next screening shows the confirmed record', async () => {
    const phone = freshPhone();
    fake.script(phone, 'press');
    const res = await screen({ phoneNumber: phone, startVoiceCheck: true, locale: 'en' });
    expect(res.status).toBe(202);
    expect(res.body.voiceContract).toEqual({ status: 'checking', method: 'ivr_outbound', checkedAt: null, expiresAt: null });
    const call = await fake.finishedCallTo(phone);
    expect(fake.requests.find((r) => r.answer.body?.sid === call.sid)?.twiml?.says[0]).toContain('press 1');
    const after = await waitFor(async () => {
      const r = await screen({ phoneNumber: phone });
      return r.body.voiceContract.status === 'confirmed' ? r : undefined;
    }, { what: 'the confirmed record' });
    expect(after.status).toBe(200);
    expect(after.body.voiceContract).toEqual({ status: 'confirmed', method: 'ivr_outbound', checkedAt: expect.any(String), expiresAt: expect.any(String) });
    // A fresh record: asking again starts nothing.
    expect((await screen({ phoneNumber: phone, startVoiceCheck: true })).status).toBe(200);
    expect(fake.calls.filter((c) => c.to === phone)).toHaveLength(1);
  });

  it('under a require policy an unchecked number is decision screen, and nothing is called unless asked', async () => {
    const c = await t.createClient(['risk:read']);
    expect((await t.request('PUT', `/v1/admin/clients/${c.clientId}/policy`, { key: admin.key, body: { voiceContract: { byPurpose: { transfer: 'require' } } } })).status).toBe(200);
    const phone = freshPhone();
    expect((await screen({ phoneNumber: phone, purpose: 'login' }, c.key)).body).toMatchObject({ decision: 'allow', reasons: [] });
    expect((await screen({ phoneNumber: phone, purpose: 'transfer' }, c.key)).body).toMatchObject({ decision: 'screen', reasons: ['voice_contract_required'], voiceContract: none });
    expect(fake.calls.filter((x) => x.to === phone)).toHaveLength(0);
  });
});

describe('POST /v1/risk/screenings: the start limits per end-user IP, device, prefix and client, and many accounts (screen)', () => {
  let s: SmsStack;

  beforeAll(async () => {
    s = await startSmsStack({
      env: {
        THROTTLE_LIMIT: '100000',
        RISK_IP_STARTS_PER_HOUR: '3',
        RISK_DEVICE_STARTS_PER_HOUR: '3',
        RISK_PREFIX_STARTS_PER_HOUR: '3',
        RISK_CLIENT_STARTS_PER_HOUR: '4',
        RISK_MANY_ACCOUNTS_MAX: '2',
      },
    });
  });
  afterAll(async () => s?.close());

  const client = () => s.t.createClient(['risk:read', 'verifications:write', 'verifications:check']);
  const screen = (key: string, phoneNumber: string, endUser?: Record<string, unknown>) =>
    s.t.request('POST', '/v1/risk/screenings', { key, body: { phoneNumber, ...(endUser ? { endUser } : {}) } });
  const start = (key: string, phoneNumber: string, endUser?: Record<string, unknown>) =>
    s.t.request('POST', '/v1/verifications', { key, body: { phoneNumber, purpose: 'login', ...(endUser ? { endUser } : {}) } });
  const counters = () => s.db.query(`SELECT kind, unit, bucket, shard, started, verified FROM risk_unit_counts ORDER BY 1, 2, 3, 4`);
  const lastScreened = async () =>
    (await s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'risk.screened' ORDER BY occurred_at DESC, id DESC LIMIT 1`))[0].data;

  it('per IP: screenings count nothing (the 3 starts after 5 screenings pass, the 4th is 429); then a screening is velocity_exceeded ip_starts_1h, audited with its figures', async () => {
    const c = await client();
    const ip = '203.0.113.50';
    const before = await counters();
    for (let i = 0; i < 5; i++) expect((await screen(c.key, spread(), { ip })).body).toMatchObject({ decision: 'allow', reasons: [] });
    expect(await counters()).toEqual(before);
    for (let i = 0; i < 3; i++) expect((await start(c.key, spread(), { ip })).status).toBe(201);
    expectProblem(await start(c.key, spread(), { ip }), 429, 'rate_limited');

    const res = await screen(c.key, spread(), { ip });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ decision: 'deny', reasons: ['velocity_exceeded'] });
    const audited = await lastScreened();
    expect(audited.risk).toMatchObject({ decision: 'deny', reasons: ['velocity_exceeded'] });
    expect(audited.risk.rules).toEqual([{ rule: 'velocity', reason: 'velocity_exceeded', limit: 'ip_starts_1h', count: 3, max: 3, retryAfterSeconds: expect.any(Number) }]);
    expect(audited.risk.rules[0].retryAfterSeconds).toBeGreaterThan(50 * 60);
    // another IP, and no endUser at all, pass
    expect((await screen(c.key, spread(), { ip: '203.0.113.51' })).body).toMatchObject({ decision: 'allow', reasons: [] });
    expect((await screen(c.key, spread())).body).toMatchObject({ decision: 'allow', reasons: [] });
  });

  it('per device, and every limit reached at once is reported (IP and device in one screening); the device id goes nowhere in clear', async () => {
    const c = await client();
    for (let i = 0; i < 3; i++) expect((await start(c.key, spread(), { ip: '198.51.100.60', deviceId: 'dev-screen-1' })).status).toBe(201);
    expect((await screen(c.key, spread(), { deviceId: 'dev-screen-1', ip: '198.51.100.61' })).body).toMatchObject({ decision: 'deny', reasons: ['velocity_exceeded'] });
    expect((await lastScreened()).risk.rules).toEqual([expect.objectContaining({ limit: 'device_starts_1h', count: 3, max: 3 })]);
    expect((await screen(c.key, spread(), { deviceId: 'dev-screen-1', ip: '198.51.100.60' })).body.reasons).toEqual(['velocity_exceeded']);
    const both = await lastScreened();
    expect(both.risk.rules.map((r: any) => r.limit)).toEqual(['ip_starts_1h', 'device_starts_1h']);
    expect(JSON.stringify(both)).not.toContain('dev-screen-1');
    expect((await screen(c.key, spread(), { deviceId: 'dev-screen-2' })).body).toMatchObject({ decision: 'allow', reasons: [] });
  });

  it('per prefix (RISK_PREFIX_STARTS_PER_HOUR) and per client (RISK_CLIENT_STARTS_PER_HOUR)', async () => {
    const c = await client();
    for (let i = 0; i < 3; i++) expect((await start(c.key, under('81702345'))).status).toBe(201);
    expect((await screen(c.key, under('81702345'))).body).toMatchObject({ decision: 'deny', reasons: ['velocity_exceeded'] });
    expect((await lastScreened()).risk.rules).toEqual([expect.objectContaining({ limit: 'prefix_starts_1h', count: 3, max: 3 })]);
    expect((await screen(c.key, under('81702346'))).body).toMatchObject({ decision: 'allow', reasons: [] });

    // the client's 4th start (another prefix) is its last this hour
    expect((await start(c.key, spread())).status).toBe(201);
    expect((await screen(c.key, spread())).body).toMatchObject({ decision: 'deny', reasons: ['velocity_exceeded'] });
    // (a refused start trips nothing: the home country's report, due at this count, is not listed)
    expect((await lastScreened()).risk.rules).toEqual([expect.objectContaining({ limit: 'client_starts_1h', count: 4, max: 4 })]);
    const other = await client();
    expect((await screen(other.key, spread())).body).toMatchObject({ decision: 'allow', reasons: [] });
  });

  it('many accounts per number: a 3rd account is decision screen (many_accounts_per_number), nothing called; the same accounts pass; a following start is judged the same', async () => {
    const c = await client();
    const phone = spread();
    for (const accountRef of ['acct-s1', 'acct-s2']) {
      const nth = messagesTo(s.sms, phone).length + 1;
      const res = await start(c.key, phone, { accountRef });
      expect(res.status).toBe(201);
      const code = await codeSentTo(s.sms, phone, { nth });
      expect((await s.t.request('POST', `/v1/verifications/${res.body.id}/check`, { key: c.key, body: { code } })).body.status).toBe('approved');
    }
    // the two approvals folded into the counters first (the background fold runs every second), so that a fold
    // between the two reads below cannot pass for screening counting something
    await waitFor(async () => (await s.db.query(`SELECT 1 FROM risk_approvals LIMIT 1`)).length === 0, { what: 'the approvals folded' });
    const before = await counters();
    const third = await screen(c.key, phone, { accountRef: 'acct-s3' });
    expect(third.status).toBe(200);
    expect(third.body).toMatchObject({ decision: 'screen', reasons: ['many_accounts_per_number'], voiceContract: { status: 'none' } });
    const audited = await lastScreened();
    expect(audited.risk.rules).toEqual([
      { rule: 'many_accounts', reason: 'many_accounts_per_number', accounts: 3, clients: 1, max: 2, windowDays: 30, action: 'screen' },
      expect.objectContaining({ rule: 'voice_contract', mode: 'require', status: 'none', reason: 'voice_contract_required' }),
    ]);
    expect(JSON.stringify(audited)).not.toContain('acct-s3');
    expect(await counters()).toEqual(before);
    expect((await screen(c.key, phone, { accountRef: 'acct-s1' })).body).toMatchObject({ decision: 'allow', reasons: [] });
    // a normal number with a new account passes
    expect((await screen(c.key, spread(), { accountRef: 'acct-s3' })).body).toMatchObject({ decision: 'allow', reasons: [] });
    const res = await start(c.key, phone, { accountRef: 'acct-s3' });
    expect(res.status).toBe(202);
    expect(res.body.risk).toEqual({ decision: 'screen', reasons: ['many_accounts_per_number'] });
  });

  it('endUser is validated as at start (400, nothing audited)', async () => {
    const c = await client();
    const audited = async () => (await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE type = 'risk.screened'`))[0].n;
    const n = await audited();
    expectProblem(await screen(c.key, spread(), { ip: 'not-an-ip' }), 400, 'validation_failed');
    expectProblem(await screen(c.key, spread(), { deviceId: '' }), 400, 'validation_failed');
    expectProblem(await screen(c.key, spread(), { accountRef: 'a\u0000b' }), 400, 'validation_failed');
    expectProblem(await screen(c.key, spread(), { extra: 1 }), 400, 'validation_failed');
    expectProblem(await s.t.request('POST', '/v1/risk/screenings', { key: c.key, body: { phoneNumber: spread(), endUser: 'x' } }), 400, 'validation_failed');
    expect(await audited()).toBe(n);
  });
});

describe('POST /v1/risk/screenings: pumping suspensions and many accounts with RISK_MANY_ACCOUNTS_ACTION=deny', () => {
  let s: SmsStack;
  let admin: { key: string };

  beforeAll(async () => {
    s = await startSmsStack({
      env: { THROTTLE_LIMIT: '100000', RISK_PUMPING_HOURLY_FLOOR: '2', RISK_PUMPING_DAILY_FLOOR: '2', RISK_MANY_ACCOUNTS_ACTION: 'deny', RISK_MANY_ACCOUNTS_MAX: '1' },
    });
    admin = await s.t.createClient(['admin']);
  });
  afterAll(async () => s?.close());

  const client = () => s.t.createClient(['risk:read', 'verifications:write', 'verifications:check']);
  const screen = (key: string, phoneNumber: string, endUser?: Record<string, unknown>) =>
    s.t.request('POST', '/v1/risk/screenings', { key, body: { phoneNumber, ...(endUser ? { endUser } : {}) } });
  const start = (key: string, phoneNumber: string, endUser?: Record<string, unknown>) =>
    s.t.request('POST', '/v1/verifications', { key, body: { phoneNumber, purpose: 'login', ...(endUser ? { endUser } : {}) } });
  const prefixSuspensions = () => s.db.query<{ id: string; unit: string }>(`SELECT id, unit FROM risk_suspensions WHERE kind = 'prefix'`);
  const lastScreened = async () =>
    (await s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'risk.screened' ORDER BY occurred_at DESC, id DESC LIMIT 1`))[0].data;

  it('a trip the start would make is reported, not made; a suspended prefix is prefix_suspended with its suspension; another prefix passes', async () => {
    const c = await client();
    for (let i = 0; i < 2; i++) expect((await start(c.key, under('81703456'))).status).toBe(201);
    // The next start would cross the floor (3 unverified > 2): it would go through and suspend the prefix.
    expect((await screen(c.key, under('81703456'))).body).toMatchObject({ decision: 'allow', reasons: [] });
    expect((await lastScreened()).risk.rules).toContainEqual(
      expect.objectContaining({ rule: 'pumping', reason: 'prefix_suspended', kind: 'prefix', unit: '81703456', mode: 'enforce', wouldTrip: true, unverified: 3, threshold: 2 }),
    );
    expect(await prefixSuspensions()).toEqual([]);

    expect((await start(c.key, under('81703456'))).status).toBe(201);
    const [sus] = await prefixSuspensions();
    expect(sus.unit).toBe('81703456');
    const res = await screen(c.key, under('81703456'));
    expect(res.body).toMatchObject({ decision: 'deny', reasons: ['prefix_suspended'] });
    expect((await lastScreened()).risk.rules).toEqual([{ rule: 'pumping', reason: 'prefix_suspended', kind: 'prefix', unit: '81703456', suspensionId: sus.id, mode: 'enforce' }]);
    expectProblem(await start(c.key, under('81703456')), 403, 'risk_denied');
    expect((await screen(c.key, under('81703457'))).body).toMatchObject({ decision: 'allow', reasons: [] });
    // released by an admin: the screening passes again
    expect((await s.t.request('DELETE', `/v1/admin/suspensions/${sus.id}`, { key: admin.key })).status).toBe(200);
    expect((await screen(c.key, under('81703456'))).body).toMatchObject({ decision: 'allow', reasons: [] });
  });

  it('many accounts with action deny: a 2nd account is deny many_accounts_per_number; the same account passes', async () => {
    const c = await client();
    const phone = under('81704567');
    const res = await start(c.key, phone, { accountRef: 'acct-d1' });
    expect(res.status).toBe(201);
    const code = await codeSentTo(s.sms, phone);
    expect((await s.t.request('POST', `/v1/verifications/${res.body.id}/check`, { key: c.key, body: { code } })).body.status).toBe('approved');

    expect((await screen(c.key, phone, { accountRef: 'acct-d2' })).body).toMatchObject({ decision: 'deny', reasons: ['many_accounts_per_number'] });
    expect((await lastScreened()).risk.rules).toEqual([{ rule: 'many_accounts', reason: 'many_accounts_per_number', accounts: 2, clients: 1, max: 1, windowDays: 30, action: 'deny' }]);
    expect((await screen(c.key, phone, { accountRef: 'acct-d1' })).body).toMatchObject({ decision: 'allow', reasons: [] });
    expect((await screen(c.key, under('81704568'), { accountRef: 'acct-d2' })).body).toMatchObject({ decision: 'allow', reasons: [] });
  });
});
