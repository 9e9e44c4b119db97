// Issue 10, item 2 (part): a client's policy `countries` and `numberTypes` (GET|PUT /v1/admin/clients/{id}/policy),
// stored, audited, validated, and applied by screening at start (403 risk_denied country_not_allowed /
// number_type_not_allowed), with the service defaults from RISK_ALLOWED_COUNTRIES / RISK_*_NUMBER_TYPES.
import type { TestApp } from './support/app';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { Stack, startStack } from './support/stack';

describe('client number policy: countries and number types per channel', () => {
  let s: Stack;
  let t: TestApp;
  let admin: { key: string; keyId: string };

  beforeAll(async () => {
    // API_KEY_CACHE_TTL_SECONDS 0: each request reads its client's policy as stored
    s = await startStack({ env: { THROTTLE_LIMIT: '100000', API_KEY_CACHE_TTL_SECONDS: '0', OTP_RESEND_COOLDOWN_SECONDS: '0' } });
    t = s.t;
    admin = await t.createClient(['admin']);
  });
  afterAll(async () => s?.close());

  const policyPath = (clientId: string) => `/v1/admin/clients/${clientId}/policy`;
  const put = (clientId: string, body: unknown) => t.request('PUT', policyPath(clientId), { key: admin.key, body });
  const start = (key: string, phoneNumber: string, channel: 'sms' | 'voice' = 'sms') =>
    t.request('POST', '/v1/verifications', { key, body: { phoneNumber, channel, purpose: 'login' } });
  const stored = async (clientId: string) =>
    (await s.db.query<{ countries: string[] | null; number_types: unknown }>(`SELECT countries, number_types FROM api_clients WHERE id = $1`, [clientId]))[0];
  const policyEvents = (clientId: string) =>
    s.db.query<{ actor_id: string; data: any }>(`SELECT actor_id, data FROM audit_events WHERE client_id = $1 AND type = 'client.policy_updated' ORDER BY occurred_at, id`, [clientId]);
  const rows = async () => Number((await s.db.query<{ n: string }>(`SELECT count(*) AS n FROM verifications`))[0].n);
  let m = 1000;
  const usMobile = () => `+1202555${String(m++).padStart(4, '0')}`; // fixed_line_or_mobile (+1 cannot tell)
  const m2m = () => `+8120${String(10_000_000 + m++)}`;

  it('default: a Japanese mobile passes; a number of another country is 403 risk_denied country_not_allowed, nothing written', async () => {
    const c = await t.createClient(['verifications:write']);
    expect((await start(c.key, freshPhone())).status).toBe(201);
    const before = await rows();
    const us = await start(c.key, usMobile());
    expectProblem(us, 403, 'risk_denied');
    expect(us.body.reasons).toEqual(['country_not_allowed']);
    const gb = await start(c.key, '+447911123456');
    expect(gb.body.reasons).toEqual(['country_not_allowed']);
    expect(await rows()).toBe(before);
  });

  it('countries set for a client let its numbers through, for that client only; null goes back to the default', async () => {
    const c = await t.createClient(['verifications:write']);
    const other = await t.createClient(['verifications:write']);
    const res = await put(c.clientId, { countries: ['jp', 'US', 'US'] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ countries: ['JP', 'US'], defaults: ['maxCheckAttempts', 'requestsPerMinute', 'numberTypes', 'voiceContract', 'pumping', 'testNumbersInProduction'] });
    expect(await stored(c.clientId)).toEqual({ countries: ['JP', 'US'], number_types: null });
    expect((await start(c.key, usMobile())).status).toBe(201);
    expect((await start(c.key, freshPhone())).status).toBe(201);
    expect((await start(other.key, usMobile())).body.reasons).toEqual(['country_not_allowed']);

    // Only US: a Japanese number is now the refused one.
    expect((await put(c.clientId, { countries: ['US'] })).status).toBe(200);
    const jp = await start(c.key, freshPhone());
    expectProblem(jp, 403, 'risk_denied');
    expect(jp.body.reasons).toEqual(['country_not_allowed']);

    expect((await put(c.clientId, { countries: null })).body.countries).toEqual(['JP']);
    expect((await start(c.key, freshPhone())).status).toBe(201);
    const events = await policyEvents(c.clientId);
    expect(events.map((e) => [e.data.changed, e.data.before.countries, e.data.after.countries])).toEqual([
      [['countries'], null, ['JP', 'US']],
      [['countries'], ['JP', 'US'], ['US']],
      [['countries'], ['US'], null],
    ]);
    expect(events.every((e) => e.actor_id === admin.keyId)).toBe(true);
  });

  it('numberTypes: m2m allowed for SMS by a client passes its 020 numbers; calls keep the default; each change is audited', async () => {
    const c = await t.createClient(['verifications:write']);
    expect((await start(c.key, m2m())).body.reasons).toEqual(['number_type_not_allowed']);
    const res = await put(c.clientId, { numberTypes: { sms: ['mobile', 'm2m'] } });
    expect(res.status).toBe(200);
    expect(res.body.numberTypes).toEqual({ sms: ['mobile', 'm2m'], voice: ['mobile', 'fixed_line'] });
    expect(await stored(c.clientId)).toEqual({ countries: null, number_types: { sms: ['mobile', 'm2m'] } });
    expect((await start(c.key, m2m())).status).toBe(201);
    expect((await start(c.key, m2m(), 'voice')).body.reasons).toEqual(['number_type_not_allowed']);
    // The same value again changes nothing and records nothing.
    expect((await put(c.clientId, { numberTypes: { sms: ['mobile', 'm2m'] } })).status).toBe(200);
    const events = await policyEvents(c.clientId);
    expect(events).toHaveLength(1);
    expect(events[0].data).toMatchObject({ changed: ['numberTypes'], before: { numberTypes: null }, after: { numberTypes: { sms: ['mobile', 'm2m'] } } });
  });

  it('numberTypes: voice without fixed_line refuses calls to fixed lines (403), an empty list refuses the channel', async () => {
    const c = await t.createClient(['verifications:write']);
    expect((await start(c.key, '+81312340001', 'voice')).status).toBe(201);
    expect((await put(c.clientId, { numberTypes: { voice: ['mobile'] } })).status).toBe(200);
    const fixed = await start(c.key, '+81312340002', 'voice');
    expectProblem(fixed, 403, 'risk_denied');
    expect(fixed.body.reasons).toEqual(['number_type_not_allowed']);
    expect((await start(c.key, freshPhone(), 'voice')).status).toBe(201);
    expect((await put(c.clientId, { numberTypes: { sms: [] } })).status).toBe(200);
    expect((await start(c.key, freshPhone())).body.reasons).toEqual(['number_type_not_allowed']);
  });

  it('both rules can fire at once: every reason is given', async () => {
    const c = await t.createClient(['verifications:write']);
    expect((await put(c.clientId, { countries: ['US'] })).status).toBe(200);
    const res = await start(c.key, m2m());
    expect(res.body.reasons).toEqual(['country_not_allowed', 'number_type_not_allowed']);
  });

  it.each([
    ['an unknown country', { countries: ['JP', 'XX'] }, 'countries'],
    ['a three-letter code', { countries: ['JPN'] }, 'countries'],
    ['countries not a list', { countries: 'JP' }, 'countries'],
    ['a country not a string', { countries: [81] }, 'countries'],
    ['an unknown number type', { numberTypes: { sms: ['mobile', 'satellite'] } }, 'numberTypes.sms'],
    ['a type no SMS can reach', { numberTypes: { sms: ['fixed_line'] } }, 'numberTypes.sms'],
    ['a service number type for calls', { numberTypes: { voice: ['toll_free'] } }, 'numberTypes.voice'],
    ['an unknown channel', { numberTypes: { fax: ['mobile'] } }, 'numberTypes.fax'],
    ['numberTypes not an object', { numberTypes: ['mobile'] }, 'numberTypes'],
    ['a type list not a list', { numberTypes: { sms: 'mobile' } }, 'numberTypes.sms'],
  ])('400 validation_failed for %s, and nothing changes', async (_name, body, field) => {
    const c = await t.createClient(['verifications:write']);
    const res = await put(c.clientId, { ...body, requestsPerMinute: 70 });
    expectProblem(res, 400, 'validation_failed');
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    expect(await stored(c.clientId)).toEqual({ countries: null, number_types: null });
    expect(await policyEvents(c.clientId)).toHaveLength(0);
  });

  it('a resend over the other channel is held to the policy for that channel too', async () => {
    const c = await t.createClient(['verifications:write']);
    expect((await put(c.clientId, { numberTypes: { sms: ['mobile', 'm2m'], voice: ['mobile'] } })).status).toBe(200);
    const started = await start(c.key, m2m());
    expect(started.status).toBe(201);
    const resend = (channel: 'sms' | 'voice') => t.request('POST', `/v1/verifications/${started.body.id}/resend`, { key: c.key, body: { channel } });
    const denied = await resend('voice');
    expectProblem(denied, 403, 'risk_denied');
    expect(denied.body.reasons).toEqual(['number_type_not_allowed']);
    const sent = await resend('sms');
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ channel: 'sms', sendsRemaining: 3 });
    // A mobile may switch: voice is allowed for it.
    const mobile = await start(c.key, freshPhone());
    expect((await t.request('POST', `/v1/verifications/${mobile.body.id}/resend`, { key: c.key, body: { channel: 'voice' } })).body.channel).toBe('voice');
  });
});

describe('service defaults from the configuration', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ env: { RISK_ALLOWED_COUNTRIES: 'JP,US', RISK_SMS_NUMBER_TYPES: 'mobile,m2m', RISK_VOICE_NUMBER_TYPES: 'mobile' } });
  });
  afterAll(async () => s?.close());

  it('RISK_ALLOWED_COUNTRIES and RISK_*_NUMBER_TYPES are the defaults a policy shows and screening applies', async () => {
    const admin = await s.t.createClient(['admin']);
    const c = await s.t.createClient(['verifications:write']);
    expect((await s.t.request('GET', `/v1/admin/clients/${c.clientId}/policy`, { key: admin.key })).body).toMatchObject({
      countries: ['JP', 'US'],
      numberTypes: { sms: ['mobile', 'm2m'], voice: ['mobile'] },
    });
    const start = (phoneNumber: string, channel = 'sms') => s.t.request('POST', '/v1/verifications', { key: c.key, body: { phoneNumber, channel, purpose: 'login' } });
    expect((await start('+12025550199')).status).toBe(201);
    expect((await start('+812012345678')).status).toBe(201);
    expect((await start('+81312345678', 'voice')).body.reasons).toEqual(['number_type_not_allowed']);
  });

  it('a bad RISK_ALLOWED_COUNTRIES stops the configuration, naming the variable', () => {
    expect(() => s.t.config.with({ RISK_ALLOWED_COUNTRIES: 'JP,XX' })).toThrow(/RISK_ALLOWED_COUNTRIES/);
    expect(() => s.t.config.with({ RISK_SMS_NUMBER_TYPES: 'fixed_line' })).toThrow(/RISK_SMS_NUMBER_TYPES/);
  });

});
