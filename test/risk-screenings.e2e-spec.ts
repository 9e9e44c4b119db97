// Issue 10, item 1: POST /v1/risk/screenings (scope risk:read): a number judged as a start would be (policy,
// blocklist, velocity read without counting, voice-contract record), without starting anything; with
// startVoiceCheck a check call starts (202, status checking) and its result shows on the next screening.
import type { TestApp } from './support/app';
import { FakeTwilio, startFakeTwilio } from './support/fake-twilio';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { Stack, startStack } from './support/stack';
import { waitFor } from './support/wait';

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
