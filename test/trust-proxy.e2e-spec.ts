// TRUST_PROXY: which X-Forwarded-For entries the service believes for a client's address (the failed-authentication
// limit, the per-address limit, the audit trail's `ip`). Listing the load balancers' addresses believes only what they
// appended (read from the right): entries a client sends itself are not. `true` believes all of them (the leftmost,
// the client's own, wins), which the limits and the audit trail then cannot tell from the truth.
import { Stack, startStack } from './support/stack';

describe('TRUST_PROXY', () => {
  /** What the balancer appends (the address it saw) after whatever the client sent. */
  const forwarded = (claimed: string) => ({ 'x-forwarded-for': `${claimed}, 198.51.100.7` });
  const badKey = (s: Stack, claimed: string) =>
    s.t.request('GET', '/v1/admin/clients', { headers: { authorization: 'Bearer otp_nope', ...forwarded(claimed) } });

  describe('the balancers\' addresses and ranges (10.0.0.0/8 and 127.0.0.1 here)', () => {
    let s: Stack;
    beforeAll(async () => {
      s = await startStack({ env: { TRUST_PROXY: '10.0.0.0/8,127.0.0.1', THROTTLE_AUTH_FAILURES_LIMIT: '3' } });
    });
    afterAll(async () => s?.close());

    it('a client forging its own entries is still limited, and audited, at the address the balancer saw', async () => {
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push((await badKey(s, `203.0.113.${i + 1}`)).status);
      expect(answers).toEqual([401, 401, 401, 429, 429]);

      const admin = await s.t.createClient(['admin']);
      const created = await s.t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: 'proxied', scopes: ['verifications:write'] }, headers: forwarded('203.0.113.66') });
      expect(created.status).toBe(201);
      const [event] = await s.db.query<{ ip: string }>(`SELECT ip FROM audit_events WHERE type = 'client.created' AND data->>'name' = 'proxied'`);
      expect(event.ip).toBe('198.51.100.7');
    });
  });

  describe('true (every hop)', () => {
    let s: Stack;
    beforeAll(async () => {
      s = await startStack({ env: { TRUST_PROXY: 'true', THROTTLE_AUTH_FAILURES_LIMIT: '3', THROTTLE_LIMIT: '3' } });
    });
    afterAll(async () => s?.close());

    it('believes the client\'s own entry: what the setting documents, and why the addresses are the advice', async () => {
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push((await badKey(s, `203.0.113.${i + 1}`)).status);
      expect(answers).toEqual([401, 401, 401, 401, 401]);
    });

    it('counts an IPv6 address by its /64: a sender taking a new address of its /64 for each request is still limited', async () => {
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await badKey(s, `2001:db8:5:6::${i + 1}`));
      expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 429, 429]);
      expect(answers[3].body.limit).toBe('auth_failures');
      expect(answers[3].body.detail).toContain('from the IPv6 network 2001:db8:5:6::/64.');
      // (another /64 has its own count)
      expect((await badKey(s, '2001:db8:5:7::1')).status).toBe(401);

      // public routes are limited per /64 as well
      const scrapes = [];
      for (let i = 0; i < 4; i++) scrapes.push(await s.t.request('GET', '/metrics', { headers: forwarded(`2001:db8:9:9:${i}::1`) }));
      expect(scrapes.map((a) => a.status)).toEqual([200, 200, 200, 429]);
      expect(scrapes[3].body.limit).toBe('client_requests');
      expect(scrapes[3].body.detail).toContain('Request limit for the IPv6 network 2001:db8:9:9::/64 reached');
    });
  });

  it('refuses a value that is none of those, naming the variable', async () => {
    await expect(startStack({ env: { TRUST_PROXY: 'lb.internal' } })).rejects.toThrow(/TRUST_PROXY/);
  });
});
