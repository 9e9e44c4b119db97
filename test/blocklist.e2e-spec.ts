// Issue 10, item 4: the blocklist of numbers and prefixes (POST|GET /v1/admin/blocklist,
// DELETE /v1/admin/blocklist/{id}, scope admin), each change audited; screening at start denies a
// blocklisted number with 403 risk_denied `blocklisted` until the entry expires or is removed.
import type { TestApp } from './support/app';
import { FakeClock } from './support/fake-clock';
import { freshPhone } from './support/phones';
import { expectProblem } from './support/problem';
import { Stack, startStack } from './support/stack';

describe('blocklist: admin routes, and screening at start', () => {
  let s: Stack;
  let t: TestApp;
  let clock: FakeClock;
  let admin: { key: string; keyId: string };
  let c: { key: string; clientId: string };

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    s = await startStack({ env: { THROTTLE_LIMIT: '100000' }, clock });
    t = s.t;
    admin = await t.createClient(['admin']);
    c = await t.createClient(['verifications:write']);
  });
  afterAll(async () => s?.close());

  // Each add a second after the previous one, so that "newest first" is well defined under the fake clock.
  const add = (body: unknown, key = admin.key) => {
    clock.advance(1000);
    return t.request('POST', '/v1/admin/blocklist', { key, body });
  };
  const remove = (id: string, key = admin.key) => t.request('DELETE', `/v1/admin/blocklist/${id}`, { key });
  const list = (query = '', key = admin.key) => t.request('GET', `/v1/admin/blocklist${query}`, { key });
  const start = (phoneNumber: string) => t.request('POST', '/v1/verifications', { key: c.key, body: { phoneNumber, purpose: 'login' } });
  const rows = async () => Number((await s.db.query<{ n: string }>(`SELECT count(*) AS n FROM blocklist`))[0].n);
  const events = (type: string) =>
    s.db.query<{ actor_id: string; phone_masked: string | null; phone_hash: Buffer | null; data: any }>(
      `SELECT actor_id, phone_masked, phone_hash, data FROM audit_events WHERE type = $1 ORDER BY occurred_at, id`,
      [type],
    );
  let n = 0;
  /** A mobile number under +8170 (freshPhone uses +81901…), under a prefix of its own per test. */
  const under = (prefix: string) => `${prefix}${String(n++).padStart(13 - prefix.length, '0')}`;

  it('a blocklisted number is 403 risk_denied blocklisted, nothing written; another number passes; audited with the number masked', async () => {
    const blocked = freshPhone();
    const res = await add({ number: blocked, reason: 'fraud case 4411' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.stringMatching(/^blk_[0-9A-Z]{26}$/), kind: 'number', value: blocked, reason: 'fraud case 4411', expiresAt: null, createdAt: clock.now().toISOString() });

    const denied = await start(blocked);
    expectProblem(denied, 403, 'risk_denied');
    expect(denied.body.reasons).toEqual(['blocklisted']);
    expect(await s.db.query(`SELECT id FROM verifications WHERE phone_e164 = $1`, [blocked])).toEqual([]);
    const [record] = (await s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'risk.denied' AND client_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT 1`, [c.clientId]));
    expect(record.data.risk).toEqual({ decision: 'deny', reasons: ['blocklisted'], rules: [{ rule: 'blocklist', reason: 'blocklisted', kind: 'number', entryId: res.body.id }] });

    expect((await start(freshPhone())).status).toBe(201);

    const added = (await events('blocklist.added')).find((e) => e.data.entryId === res.body.id);
    expect(added).toMatchObject({ actor_id: admin.keyId, phone_masked: `+81*******${blocked.slice(-4)}`, data: { entryId: res.body.id, kind: 'number', reason: 'fraud case 4411', expiresAt: null } });
    expect(added?.phone_hash).toBeInstanceOf(Buffer);
    expect(JSON.stringify(added?.data)).not.toContain(blocked.slice(1));
  });

  it('a blocklisted prefix denies every number under it and none outside; both reasons when the policy refuses too', async () => {
    const res = await add({ prefix: '+8170123', reason: 'pumping wave' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kind: 'prefix', value: '+8170123' });
    for (const phone of [under('+8170123'), under('+81701239')]) {
      const r = await start(phone);
      expectProblem(r, 403, 'risk_denied');
      expect(r.body.reasons).toEqual(['blocklisted']);
    }
    expect((await start(under('+8170124'))).status).toBe(201);
    expect((await start(under('+817012'))).status).toBe(201); // +81701200… is not under +8170123

    // A number both blocklisted and of a refused type: every reason.
    expect((await add({ prefix: '+8120', reason: 'data SIMs' })).status).toBe(201);
    const both = await start('+812012345678');
    expect(both.body.reasons).toEqual(['number_type_not_allowed', 'blocklisted']);

    const [event] = (await events('blocklist.added')).filter((e) => e.data.entryId === res.body.id);
    expect(event).toMatchObject({ actor_id: admin.keyId, phone_masked: null, data: { kind: 'prefix', prefix: '+8170123', reason: 'pumping wave' } });
  });

  it('DELETE unblocks and answers the removed entry (audited); a second DELETE is 404', async () => {
    const phone = freshPhone();
    const created = (await add({ number: phone, reason: 'temporary hold' })).body;
    expectProblem(await start(phone), 403, 'risk_denied');
    const res = await remove(created.id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(created);
    expect((await start(phone)).status).toBe(201);
    expectProblem(await remove(created.id), 404, 'not_found');
    expectProblem(await remove('blk_01JD3Y8N6W2Q5V7X9Z1B3C5D7F'), 404, 'not_found');
    const removed = (await events('blocklist.removed')).filter((e) => e.data.entryId === created.id);
    expect(removed).toHaveLength(1);
    expect(removed[0]).toMatchObject({ actor_id: admin.keyId, phone_masked: `+81*******${phone.slice(-4)}`, data: { kind: 'number', reason: 'temporary hold' } });
    // Added again after removal: a new entry.
    expect((await add({ number: phone, reason: 'again' })).status).toBe(201);
  });

  it('an entry stops blocking once it expires, and the same entry can then be added again', async () => {
    const phone = under('+8170555');
    const expiresAt = new Date(clock.now().getTime() + 61_000).toISOString(); // add() moves the clock a second on: a minute ahead
    const res = await add({ prefix: '+8170555', reason: 'for a minute', expiresAt });
    expect(res.status).toBe(201);
    expect(res.body.expiresAt).toBe(expiresAt);
    expectProblem(await start(phone), 403, 'risk_denied');
    expectProblem(await add({ prefix: '+8170555', reason: 'while active' }), 409, 'conflict');
    clock.advance(61_000);
    expect((await start(phone)).status).toBe(201);
    const again = await add({ prefix: '+8170555', reason: 'for good' });
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(res.body.id);
    expectProblem(await start(under('+8170555')), 403, 'risk_denied');
    // The expired entry it replaced is recorded as removed, once; no other add recorded a removal.
    const removed = await events('blocklist.removed');
    expect(removed.filter((e) => e.data.entryId === res.body.id).map((e) => e.data)).toEqual([
      { entryId: res.body.id, kind: 'prefix', prefix: '+8170555', reason: 'for a minute', expiresAt, expired: true },
    ]);
    expect(removed.every((e) => typeof e.data.entryId === 'string')).toBe(true);
  });

  it('409 for the same active number or prefix; the first entry stays', async () => {
    const phone = freshPhone();
    const first = await add({ number: phone, reason: 'one' });
    const before = await rows();
    const dup = await add({ number: phone, reason: 'two' });
    expectProblem(dup, 409, 'conflict');
    expect(await rows()).toBe(before);
    // The same digits as a prefix is another entry.
    expect((await add({ prefix: phone, reason: 'as a prefix' })).status).toBe(201);
    expect((await list('?limit=500')).body.items.filter((i: any) => i.value === phone).map((i: any) => i.reason)).toEqual(['as a prefix', first.body.reason]);
  });

  it.each([
    ['neither number nor prefix', { reason: 'x' }],
    ['both number and prefix', { number: '+819011112222', prefix: '+8190', reason: 'x' }],
    ['a number not in E.164 form', { number: '09011112222', reason: 'x' }],
    ['a number with spaces', { number: '+81 90 1111 2222', reason: 'x' }],
    ['an invalid number', { number: '+8101234', reason: 'x' }],
    ['a number not a string', { number: 819011112222, reason: 'x' }],
    ['a prefix without +', { prefix: '8190', reason: 'x' }],
    ['a prefix of one digit', { prefix: '+8', reason: 'x' }],
    ['a prefix of 16 digits', { prefix: '+8190123456789012', reason: 'x' }],
    ['a prefix with letters', { prefix: '+81ab', reason: 'x' }],
    ['no reason', { number: '+819011112222' }],
    ['an empty reason', { number: '+819011112222', reason: '' }],
    ['a reason of 201 characters', { number: '+819011112222', reason: 'x'.repeat(201) }],
    ['a reason with a NUL', { number: '+819011112222', reason: 'a\u0000b' }],
    ['a reason holding a webhook secret', { number: '+819011112222', reason: 'whsec_' + 'A'.repeat(32) }],
    ['a past expiresAt', { number: '+819011112222', reason: 'x', expiresAt: '2020-01-01T00:00:00Z' }],
    ['an expiresAt not a date', { number: '+819011112222', reason: 'x', expiresAt: 'tomorrow' }],
    ['an expiresAt in an ISO 8601 form JavaScript cannot read (a week)', { number: '+819011112222', reason: 'x', expiresAt: '2099-W05' }],
    ['an unknown field', { number: '+819011112222', reason: 'x', note: 'y' }],
  ])('400 for %s, nothing stored or audited', async (_label, body) => {
    const before = [await rows(), (await events('blocklist.added')).length];
    expectProblem(await add(body), 400, 'validation_failed');
    expect([await rows(), (await events('blocklist.added')).length]).toEqual(before);
  });

  it('a past expiresAt relative to the service clock is refused, one just ahead is taken', async () => {
    expectProblem(await add({ number: freshPhone(), reason: 'x', expiresAt: clock.now().toISOString() }), 400, 'validation_failed');
    expect((await add({ number: freshPhone(), reason: 'x', expiresAt: new Date(clock.now().getTime() + 1001).toISOString() })).status).toBe(201);
  });

  it('GET lists newest first with a cursor; limit above 500 or a forged cursor is 400', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await add({ prefix: `+44790${i}`, reason: `page ${i}` })).body.id);
    const total = await rows();
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((i: any) => i.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    expect(seen.slice(0, 5)).toEqual([...ids].reverse());
    expect([...seen].sort().reverse()).toEqual(seen);
    expectProblem(await list('?limit=501'), 400, 'validation_failed');
    expectProblem(await list('?limit=0'), 400, 'validation_failed');
    expectProblem(await list('?cursor=abc'), 400, 'validation_failed');
    expectProblem(await list(`?cursor=${Buffer.from(JSON.stringify({ i: "x' OR 1=1" })).toString('base64url')}`), 400, 'validation_failed');
  });

  it('non-admin keys get 403 forbidden on every route; no key is 401', async () => {
    const phone = freshPhone();
    const id = (await add({ number: phone, reason: 'x' })).body.id;
    const before = await rows();
    expectProblem(await add({ number: freshPhone(), reason: 'x' }, c.key), 403, 'forbidden');
    expectProblem(await list('', c.key), 403, 'forbidden');
    expectProblem(await remove(id, c.key), 403, 'forbidden');
    expect(await rows()).toBe(before);
    expectProblem(await start(phone), 403, 'risk_denied');
    expect((await t.request('GET', '/v1/admin/blocklist')).status).toBe(401);
  });
});
