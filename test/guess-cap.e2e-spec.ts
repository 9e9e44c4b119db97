// Issue 9, item 2: guesses per number are capped across verifications, clients and instances, at check time;
// and a client has at most one open verification per number (a new start supersedes the open one).
import { ClientsService } from '../src/clients/clients.service';
import { freshPhone } from './support/phones';
import { startVerification } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';

describe('per-number guess cap at check time, and one open verification per number and client', () => {
  let s: SmsStack;
  const CAP = 10; // PHONE_CHECK_FAILURES_PER_HOUR

  beforeAll(async () => {
    // 100 checks at once on one number queue on its lock: room for a slow database before a pool wait or statement gives up
    s = await startSmsStack({
      instances: 2,
      env: { PHONE_CHECK_FAILURES_PER_HOUR: String(CAP), THROTTLE_LIMIT: '100000', DATABASE_CONNECT_TIMEOUT_MS: '30000', DATABASE_STATEMENT_TIMEOUT_MS: '30000' },
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  async function client(maxCheckAttempts?: number): Promise<string> {
    const created = await s.t.app.get(ClientsService).createClient({ name: `c-${Math.random().toString(36).slice(2, 10)}`, scopes: ['verifications:write', 'verifications:check'], maxCheckAttempts });
    return created.apiKey.key;
  }
  const wrongOf = (code: string) => String((Number(code[0]) + 1) % 10) + code.slice(1);

  it('five open verifications of one number (five clients, one allowing 20 tries) accept exactly the cap in wrong guesses over two instances', async () => {
    const phone = freshPhone();
    const keys = [await client(20), await client(), await client(), await client(), await client()];
    const started = [];
    for (const key of keys) started.push({ key, ...(await startVerification(s.t, s.sms, key, { phoneNumber: phone })) });

    // 20 wrong guesses on each, all at once, spread over both instances
    const guesses = started.flatMap((v, i) =>
      Array.from({ length: 20 }, (_, j) => s.apps[(i + j) % 2].request('POST', `/v1/verifications/${v.id}/check`, { key: v.key, body: { code: wrongOf(v.code) } })),
    );
    const answers = await Promise.all(guesses);
    const counted = answers.filter((r) => r.status === 200 && r.body.valid === false);
    expect(counted).toHaveLength(CAP);
    expect(answers.every((r) => r.status === 200 || r.status === 429 || r.status === 409)).toBe(true);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0].body).toMatchObject({ code: 'rate_limited', limit: 'phone_check_failures' });
    expect(refused[0].headers.get('retry-after')).toMatch(/^\d+$/);

    const [{ n }] = await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM phone_check_failures WHERE phone_e164 = $1`, [phone]);
    expect(n).toBe(CAP);
    const [{ attempts }] = await s.db.query<{ attempts: number }>(`SELECT sum(attempts)::int AS attempts FROM verifications WHERE phone_e164 = $1`, [phone]);
    expect(attempts).toBe(CAP);

    // once the cap is reached even the right code of a still-open verification is refused, and counts nothing
    const open = (await s.db.query<{ id: string }>(`SELECT id FROM verifications WHERE phone_e164 = $1 AND status = 'pending'`, [phone])).map((r) => r.id);
    expect(open.length).toBeGreaterThan(0);
    const v = started.find((x) => x.id === open[0])!;
    const right = await s.apps[1].request('POST', `/v1/verifications/${v.id}/check`, { key: v.key, body: { code: v.code } });
    expect(right.status).toBe(429);
    expect((await s.t.request('GET', `/v1/verifications/${v.id}`, { key: v.key })).body.status).toBe('pending');
  });

  it('a number under the cap is checked as usual (a right code approves)', async () => {
    const key = await client();
    const v = await startVerification(s.t, s.sms, key);
    expect((await s.apps[1].request('POST', `/v1/verifications/${v.id}/check`, { key, body: { code: wrongOf(v.code) } })).body).toMatchObject({ valid: false });
    expect((await s.t.request('POST', `/v1/verifications/${v.id}/check`, { key, body: { code: v.code } })).body).toMatchObject({ valid: true, status: 'approved' });
  });

  it("a new start by the same client supersedes its open verification for the number; another client's stays open", async () => {
    const phone = freshPhone();
    const [mine, theirs] = [await client(), await client()];
    const other = await startVerification(s.t, s.sms, theirs, { phoneNumber: phone });
    const first = await startVerification(s.t, s.sms, mine, { phoneNumber: phone });
    const second = await startVerification(s.apps[1], s.sms, mine, { phoneNumber: phone });

    expect((await s.t.request('GET', `/v1/verifications/${first.id}`, { key: mine })).body.status).toBe('canceled');
    const late = await s.t.request('POST', `/v1/verifications/${first.id}/check`, { key: mine, body: { code: first.code } });
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ code: 'verification_not_pending', verificationStatus: 'canceled' });
    expect((await s.t.request('GET', `/v1/verifications/${other.id}`, { key: theirs })).body.status).toBe('pending');
    expect((await s.t.request('POST', `/v1/verifications/${second.id}/check`, { key: mine, body: { code: second.code } })).body.status).toBe('approved');
    const events = await s.db.query<{ type: string; data: { supersededBy: string } }>(`SELECT type, data FROM audit_events WHERE verification_id = $1 AND type = 'verification.superseded'`, [first.id]);
    expect(events).toEqual([{ type: 'verification.superseded', data: expect.objectContaining({ supersededBy: second.id, previousStatus: 'pending' }) }]);
  });

  it('concurrent starts by one client for one number leave exactly one open verification', async () => {
    const phone = freshPhone();
    const key = await client();
    const answers = await Promise.all([0, 1, 2, 3].map((i) => s.apps[i % 2].request('POST', '/v1/verifications', { key, body: { phoneNumber: phone, purpose: 'login' } })));
    expect(answers.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    const [{ n }] = await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM verifications WHERE phone_e164 = $1 AND status IN ('pending', 'screening')`, [phone]);
    expect(n).toBe(1);
  });
});
