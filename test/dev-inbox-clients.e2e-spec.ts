// The development inbox (console provider, outside production) shows each client only the messages sent
// for its own verifications: another client's codes are not its to read, whatever its scopes.
import { startTestApp, TestApp } from './support/app';
import { createTestDatabase, TestDatabase } from './support/database';
import { freshPhone } from './support/phones';
import { codeOf, postVerification } from './support/scenario';
import { waitFor } from './support/wait';

describe('development inbox: one client per inbox', () => {
  let db: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await startTestApp(db.url, { NODE_ENV: 'development', THROTTLE_LIMIT: '100000', PHONE_SENDS_PER_15_MIN: '100', PHONE_SENDS_PER_24_H: '100' });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const inbox = async (key: string, phone?: string) => {
    const res = await t.request('GET', `/v1/dev/messages${phone ? `?phoneNumber=${encodeURIComponent(phone)}` : ''}`, { key });
    expect(res.status).toBe(200);
    return res.body.items as Array<{ to: string; body: string; reference: string; channel: string }>;
  };

  it('two clients sending to the same number each see only their own message; an admin key sees neither', async () => {
    const a = await t.createClient(['verifications:write', 'verifications:check']);
    const b = await t.createClient(['verifications:write', 'verifications:check', 'admin']);
    const admin = await t.createClient(['admin']);
    const shared = freshPhone();
    const onlyB = freshPhone();
    const va = await postVerification(t, a.key, { phoneNumber: shared, locale: 'en' });
    const vb = await postVerification(t, b.key, { phoneNumber: shared, locale: 'en' });
    const vb2 = await postVerification(t, b.key, { phoneNumber: onlyB, locale: 'en' });
    const refs = async (id: string) => (await db.query<{ id: string }>(`SELECT id FROM outbox WHERE verification_id = $1`, [id])).map((r) => r.id);
    const [ra, rb, rb2] = [await refs(va.id), await refs(vb.id), await refs(vb2.id)];
    await waitFor(async () => (await db.query(`SELECT 1 FROM outbox WHERE id = ANY($1) AND status = 'done'`, [[...ra, ...rb, ...rb2]])).length === 3, {
      what: 'the three messages sent',
    });

    const ofA = await inbox(a.key);
    expect(ofA.map((m) => m.reference)).toEqual(ra);
    expect(ofA[0]).toEqual({ to: shared, channel: 'sms', body: expect.any(String), reference: ra[0], sentAt: expect.any(String) });
    expect(await inbox(a.key, shared)).toEqual(ofA);
    expect(await inbox(a.key, onlyB)).toEqual([]);

    const ofB = await inbox(b.key);
    expect(ofB.map((m) => m.reference).sort()).toEqual([...rb, ...rb2].sort());
    expect((await inbox(b.key, shared)).map((m) => m.reference)).toEqual(rb);

    expect(await inbox(admin.key)).toEqual([]);

    // each code checks its own verification: the inbox gave each client the right one
    for (const [key, id, item] of [
      [a.key, va.id, ofA[0]],
      [b.key, vb.id, (await inbox(b.key, shared))[0]],
    ] as const) {
      const ok = await t.request('POST', `/v1/verifications/${id}/check`, { key, body: { code: codeOf(item.body, 6) } });
      expect(ok.body.status).toBe('approved');
    }
  });
});
