// Issue 10, item 1 (part): every start's screening decision is recorded, with the rules that fired and their
// figures: on the verification (its `risk` column; `risk` in the API object) and in the audit trail
// (`verification.created` data.risk), or as a `risk.denied` audit event when no verification is created.
import type { TestApp } from './support/app';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { Stack, startStack } from './support/stack';

describe('the screening decision record of each start', () => {
  let s: Stack;
  let t: TestApp;
  let c: { key: string; clientId: string; keyId: string };

  beforeAll(async () => {
    s = await startStack({ env: { THROTTLE_LIMIT: '100000' } });
    t = s.t;
    c = await t.createClient(['verifications:write']);
  });
  afterAll(async () => s?.close());

  const start = (body: Record<string, unknown>, headers?: Record<string, string>) =>
    t.request('POST', '/v1/verifications', { key: c.key, body: { purpose: 'login', ...body }, headers });
  const events = (type: string) =>
    s.db.query<{ client_id: string; actor_id: string; verification_id: string | null; phone_masked: string; data: any }>(
      `SELECT client_id, actor_id, verification_id, phone_masked, data FROM audit_events WHERE type = $1 AND client_id = $2 ORDER BY occurred_at, id`,
      [type, c.clientId],
    );

  it('an allowed start: risk allow in the answer, in GET, on the row and in verification.created', async () => {
    const res = await start({ phoneNumber: freshPhone() });
    expect(res.status).toBe(201);
    expect(res.body.risk).toEqual({ decision: 'allow', reasons: [] });
    expect((await t.request('GET', `/v1/verifications/${res.body.id}`, { key: c.key })).body.risk).toEqual({ decision: 'allow', reasons: [] });
    const [row] = await s.db.query<{ risk: unknown }>(`SELECT risk FROM verifications WHERE id = $1`, [res.body.id]);
    expect(row.risk).toEqual({ decision: 'allow', reasons: [], rules: [] });
    const created = (await events('verification.created')).find((e) => e.verification_id === res.body.id);
    expect(created?.data.risk).toEqual({ decision: 'allow', reasons: [], rules: [] });
  });

  it('a denied start creates no verification, and records risk.denied with the rules that fired and their figures', async () => {
    const before = (await events('risk.denied')).length;
    const res = await start({ phoneNumber: '+812012345678', channel: 'voice', reference: 'order-77' });
    expectProblem(res, 403, 'risk_denied');
    expect(res.body.reasons).toEqual(['number_type_not_allowed']);
    expect(await s.db.query(`SELECT id FROM verifications WHERE phone_e164 = '+812012345678'`)).toEqual([]);
    const denied = (await events('risk.denied')).slice(before);
    expect(denied).toEqual([
      {
        client_id: c.clientId,
        actor_id: c.keyId,
        verification_id: null,
        phone_masked: '+81*******5678',
        data: {
          risk: {
            decision: 'deny',
            reasons: ['number_type_not_allowed'],
            rules: [{ rule: 'number_type', reason: 'number_type_not_allowed', numberType: 'm2m', channel: 'voice', allowed: ['mobile', 'fixed_line'] }],
          },
          channel: 'voice',
          purpose: 'login',
          reference: 'order-77',
        },
      },
    ]);
  });

  it('a country refusal records the country and the allowed list', async () => {
    const before = (await events('risk.denied')).length;
    expect((await start({ phoneNumber: '+12025550199' })).status).toBe(403);
    const [denied] = (await events('risk.denied')).slice(before);
    expect(denied.data.risk.rules).toEqual([{ rule: 'country', reason: 'country_not_allowed', country: 'US', allowed: ['JP'] }]);
  });

  it('a denied start with an Idempotency-Key claims nothing: the retry is screened again, and recorded again', async () => {
    const before = (await events('risk.denied')).length;
    const headers = { 'Idempotency-Key': `deny-${Math.random()}` };
    expectProblem(await start({ phoneNumber: '+812012340000' }, headers), 403, 'risk_denied');
    expectProblem(await start({ phoneNumber: '+812012340000' }, headers), 403, 'risk_denied');
    expect((await events('risk.denied')).length - before).toBe(2);
  });

  it('a 400 (not a number, or a type that cannot receive the channel) is no screening decision: nothing is recorded', async () => {
    const before = (await events('risk.denied')).length;
    expectProblem(await start({ phoneNumber: '+81120123456' }), 400, 'unsupported_number_type');
    expectProblem(await start({ phoneNumber: '+812001234567890' }), 400, 'invalid_phone_number');
    expect((await events('risk.denied')).length).toBe(before);
  });
});
