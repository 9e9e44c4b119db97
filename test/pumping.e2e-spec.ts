// Issue 10, item 6: SMS-pumping defence. Units: number prefix (8 digits of E.164), foreign country, end-user IP;
// thresholds relative to the unit's own verified volume with floors (RISK_PUMPING_DAILY_FLOOR 20,
// RISK_PUMPING_HOURLY_FLOOR 10, ratio 0.2). A tripped unit is suspended for RISK_SUSPENSION_HOURS (403 risk_denied
// prefix_suspended / country_suspended / ip_suspended), listed at GET /v1/admin/suspensions with its figures and
// released by DELETE /v1/admin/suspensions/{id} (audited); a client with pumping: record_only is never denied,
// its trips recorded; the home country is only reported. Counters come from events, over two instances here.
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { ApprovalFolding } from '../src/risk/approval-folding';
import type { TestApp } from './support/app';
import { FakeClock } from './support/fake-clock';
import { expectProblem } from './support/problem';
import { codeSentTo } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { waitFor } from './support/wait';

const HOUR = 3600_000;

describe('SMS pumping: suspensions of number prefixes', () => {
  let s: SmsStack;
  let clock: FakeClock;
  let admin: { key: string; keyId: string };
  let bank: { key: string; clientId: string };

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    // approvals folded into the counters every 50 ms, as the codes here are checked within milliseconds of their start
    s = await startSmsStack({ instances: 2, clock, env: { THROTTLE_LIMIT: '100000', RISK_APPROVALS_FOLD_INTERVAL_MS: '50' } });
    admin = await s.t.createClient(['admin', 'audit:read']);
    bank = await s.t.createClient(['verifications:write', 'verifications:check']);
  });
  afterAll(async () => s?.close());

  let i = 0;
  /** A fresh mobile number under an 8-digit prefix (`81701234` → +81701234nnnn). */
  const under = (prefix: string) => `+${prefix}${String(i++ % 10_000).padStart(4, '0')}`;
  /** Starts alternate between the two instances. */
  const app = (): TestApp => s.apps[i % 2];
  const start = (key: string, phoneNumber: string, extra: Record<string, unknown> = {}) =>
    app().request('POST', '/v1/verifications', { key, body: { phoneNumber, purpose: 'login', ...extra } });
  const suspensions = async (query = '?limit=500') => {
    const res = await s.t.request('GET', `/v1/admin/suspensions${query}`, { key: admin.key });
    expect(res.status).toBe(200);
    return res.body.items as any[];
  };
  const events = (type: string) => s.db.query<{ actor_type: string; actor_id: string | null; client_id: string | null; data: any }>(`SELECT actor_type, actor_id, client_id, data FROM audit_events WHERE type = $1 ORDER BY occurred_at, id`, [type]);
  /** otp_risk_pumping_trips_total over every instance. */
  const trips = async (kind: string, mode: string) => {
    let total = 0;
    for (const a of s.apps) {
      const m = new RegExp(`otp_risk_pumping_trips_total\\{kind="${kind}",mode="${mode}"\\} (\\d+)`).exec(await (await fetch(`${a.url}/metrics`)).text());
      total += m ? Number(m[1]) : 0;
    }
    return total;
  };
  const policy = (clientId: string, body: unknown) => s.t.request('PUT', `/v1/admin/clients/${clientId}/policy`, { key: admin.key, body });

  it('a burst of starts to one prefix with no checks suspends it within 50 starts; another prefix is untouched', async () => {
    const answers: number[] = [];
    const other: number[] = [];
    for (let n = 0; n < 50; n++) {
      answers.push((await start(bank.key, under('81701234'))).status);
      // normal traffic to another prefix in between: codes that are sent and checked
      const phone = under('81701235');
      const v = await start(bank.key, phone);
      other.push(v.status);
      const code = await codeSentTo(s.sms, phone);
      expect((await s.t.request('POST', `/v1/verifications/${v.body.id}/check`, { key: bank.key, body: { code } })).body.status).toBe('approved');
    }
    const firstDenied = answers.indexOf(403);
    expect(firstDenied).toBeGreaterThan(0);
    expect(firstDenied).toBeLessThan(50);
    expect(answers.slice(0, firstDenied).every((st) => st === 201)).toBe(true);
    expect(answers.slice(firstDenied).every((st) => st === 403)).toBe(true);
    // The hourly floor (10 unverified): the 11th start trips it and goes through, the 12th is denied.
    expect(firstDenied).toBe(11);

    const listed = await suspensions();
    expect(listed.filter((x) => x.kind === 'prefix').map((x) => x.value)).toEqual(['81701234']);

    const denied = await start(bank.key, under('81701234'));
    expectProblem(denied, 403, 'risk_denied');
    expect(denied.body.reasons).toEqual(['prefix_suspended']);
    const [sus] = listed.filter((x) => x.kind === 'prefix');
    expect(sus).toMatchObject({
      id: expect.stringMatching(/^sus_[0-9A-Z]{26}$/),
      kind: 'prefix',
      value: '81701234',
      mode: 'enforce',
      reason: 'prefix_suspended',
      active: true,
      releasedAt: null,
      releasedBy: null,
      figures: { window: '1h', unverified: 11, threshold: 10, started1h: 10, verified1h: 0, maxDailyVerified14d: 0 },
    });
    expect(Date.parse(sus.expiresAt) - Date.parse(sus.createdAt)).toBe(12 * HOUR);

    // Recorded: risk.suspended (system actor, the client whose start tripped it), and each denial with its rule.
    const [suspended] = (await events('risk.suspended')).filter((e) => e.data.suspensionId === sus.id);
    expect(suspended).toMatchObject({ actor_type: 'system', client_id: bank.clientId, data: { kind: 'prefix', unit: '81701234', mode: 'enforce', figures: sus.figures } });
    const [lastDenial] = (await events('risk.denied')).slice(-1);
    expect(lastDenial.data.risk.rules).toEqual([{ rule: 'pumping', reason: 'prefix_suspended', kind: 'prefix', unit: '81701234', suspensionId: sus.id, mode: 'enforce' }]);
    // The start that tripped it carries the trip in its decision record.
    const tripped = await s.db.query<{ risk: any }>(`SELECT risk FROM verifications WHERE risk->'rules' @> $1::jsonb`, [JSON.stringify([{ suspensionId: sus.id, tripped: true }])]);
    expect(tripped).toHaveLength(1);
    expect(tripped[0].risk).toMatchObject({ decision: 'allow', reasons: [] });

    // Every start to the quiet prefix went through, and it is not suspended.
    expect(other.every((st) => st === 201)).toBe(true);
    expect((await start(bank.key, under('81701235'))).status).toBe(201);

    // The metric counts the trip (in the instance that saw it).
    expect(await trips('prefix', 'enforce')).toBe(1);
  });

  it('an admin releases a suspension (audited): starts pass again, counted afresh; a second release is 409, an unknown id 404', async () => {
    const [sus] = (await suspensions('?active=true')).filter((x) => x.value === '81701234');
    expect(sus).toBeDefined();
    const notAdmin = await s.t.request('DELETE', `/v1/admin/suspensions/${sus.id}`, { key: bank.key });
    expectProblem(notAdmin, 403, 'forbidden');

    const res = await s.t.request('DELETE', `/v1/admin/suspensions/${sus.id}`, { key: admin.key });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: sus.id, active: false, releasedAt: clock.now().toISOString(), releasedBy: admin.keyId });
    const [released] = (await events('suspension.released')).filter((e) => e.data.suspensionId === sus.id);
    expect(released).toMatchObject({ actor_type: 'admin', actor_id: admin.keyId, data: { kind: 'prefix', unit: '81701234', mode: 'enforce' } });

    // The unverified codes before the release do not count (nor those in the bucket of the trip, a release
    // moments after it): starts pass, and from the next 10-minute bucket on ten more pass before it trips again.
    for (let n = 0; n < 12; n++) expect((await start(bank.key, under('81701234'))).status).toBe(201);
    clock.advance(10 * 60_000);
    const after: number[] = [];
    for (let n = 0; n < 12; n++) after.push((await start(bank.key, under('81701234'))).status);
    expect(after).toEqual([...Array(11).fill(201), 403]);

    expectProblem(await s.t.request('DELETE', `/v1/admin/suspensions/${sus.id}`, { key: admin.key }), 409, 'conflict');
    expectProblem(await s.t.request('DELETE', `/v1/admin/suspensions/sus_01JD3Y8N6W2Q5V7X9Z1B3C5D7F`, { key: admin.key }), 404, 'not_found');
  });

  it('a suspension ends by itself after RISK_SUSPENSION_HOURS', async () => {
    const [sus] = (await suspensions('?active=true')).filter((x) => x.value === '81701234');
    expectProblem(await start(bank.key, under('81701234')), 403, 'risk_denied');
    clock.set(new Date(Date.parse(sus.expiresAt) + 1000));
    expect((await start(bank.key, under('81701234'))).status).toBe(201);
    expect((await suspensions('?active=true')).filter((x) => x.value === '81701234')).toEqual([]);
    expectProblem(await s.t.request('DELETE', `/v1/admin/suspensions/${sus.id}`, { key: admin.key }), 409, 'conflict');
  });

  it('record_only: a burst suspends nothing but is recorded; a client that enforces is denied under the same prefix', async () => {
    const watcher = await s.t.createClient(['verifications:write']);
    const put = await policy(watcher.clientId, { pumping: 'record_only' });
    expect(put.status).toBe(200);
    expect(put.body.pumping).toBe('record_only');
    const [change] = (await events('client.policy_updated')).filter((e) => e.client_id === watcher.clientId);
    expect(change.data).toMatchObject({ changed: ['pumping'], before: { pumping: null }, after: { pumping: 'record_only' } });

    const answers: number[] = [];
    for (let n = 0; n < 50; n++) answers.push((await start(watcher.key, under('81701236'))).status);
    expect(answers.every((st) => st === 201)).toBe(true);

    const rows = (await suspensions()).filter((x) => x.value === '81701236');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'prefix', mode: 'record_only', active: true, figures: { window: '1h', unverified: 11, threshold: 10 } });
    const [detected] = (await events('risk.pumping_detected')).filter((e) => e.data.suspensionId === rows[0].id);
    expect(detected).toMatchObject({ client_id: watcher.clientId, data: { mode: 'record_only', kind: 'prefix', unit: '81701236' } });
    expect((await events('risk.suspended')).filter((e) => e.data.unit === '81701236')).toEqual([]);
    // The start that tripped it carries the trip, each later one the hit, in its decision record, deciding nothing.
    const records = (await s.db.query<{ risk: any }>(`SELECT risk FROM verifications WHERE client_id = $1`, [watcher.clientId])).map((r) => r.risk);
    expect(records.every((r) => r.decision === 'allow' && r.reasons.length === 0)).toBe(true);
    expect(records.filter((r) => r.rules.some((h: any) => h.tripped && h.suspensionId === rows[0].id && h.mode === 'record_only'))).toHaveLength(1);
    const hits = records.filter((r) => r.rules.length && !r.rules[0].tripped);
    expect(hits).toHaveLength(39);
    expect(hits[0].rules).toEqual([{ rule: 'pumping', reason: 'prefix_suspended', kind: 'prefix', unit: '81701236', suspensionId: rows[0].id, mode: 'record_only', enforced: false }]);

    // The default client enforces: the prefix is over its thresholds, so its first start trips a real suspension
    // (and goes through), the next is denied, while the record_only client's starts still pass.
    expect((await start(bank.key, under('81701236'))).status).toBe(201);
    const denied = await start(bank.key, under('81701236'));
    expectProblem(denied, 403, 'risk_denied');
    expect(denied.body.reasons).toEqual(['prefix_suspended']);
    expect((await start(watcher.key, under('81701236'))).status).toBe(201);
    expect((await suspensions('?active=true')).filter((x) => x.value === '81701236').map((x) => x.mode).sort()).toEqual(['enforce', 'record_only']);
  });

  it('a prefix with verified traffic passes: codes that are checked are not pumping', async () => {
    for (let n = 0; n < 30; n++) {
      const phone = under('81701237');
      const v = await start(bank.key, phone);
      expect(v.status).toBe(201);
      const code = await codeSentTo(s.sms, phone);
      expect((await s.t.request('POST', `/v1/verifications/${v.body.id}/check`, { key: bank.key, body: { code } })).body.status).toBe('approved');
    }
    expect((await suspensions()).filter((x) => x.value === '81701237')).toEqual([]);
    // Its verified volume is on record once folded (both instances fold; one at a time): the 14-day maximum and the last hour.
    // foldNow() runs a fold that starts after the call, but the 50-ms timers of both instances fold too, and one
    // instance's fold skips while the other holds the lock: fold again until none waits, as the next tick would.
    await waitFor(
      async () => {
        await Promise.all(s.apps.map((a) => a.app.get(ApprovalFolding).foldNow()));
        return (await s.db.query(`SELECT verification_id FROM risk_approvals`)).length === 0;
      },
      { what: 'every approval folded', intervalMs: 20 },
    );
    const [day] = await s.db.query<{ verified: number }>(`SELECT sum(verified)::int AS verified FROM risk_unit_days WHERE kind = 'prefix' AND unit = '81701237'`);
    expect(day.verified).toBe(30);
    // The starts were spread over the prefix's shard rows (chosen at random: all 30 in one has odds of 8^-29), the
    // approvals folded into shard 0 by the one folder ...
    const shards = await s.db.query<{ started: number; verified: number }>(
      `SELECT count(DISTINCT shard) FILTER (WHERE started > 0)::int AS started, count(DISTINCT shard) FILTER (WHERE verified > 0)::int AS verified FROM risk_unit_counts WHERE kind = 'prefix' AND unit = '81701237'`,
    );
    expect(shards[0].started).toBeGreaterThan(1);
    expect(shards[0].verified).toBe(1);
    // ... and are judged summed: a burst of unverified starts trips at 11 more (30 verified in the hour, the floor
    // of 10 above 0.2 × 30), with the 14-day maxima of the whole prefix (30 in the day, 30 in the hour), not a shard's.
    const answers: number[] = [];
    for (let n = 0; n < 12; n++) answers.push((await start(bank.key, under('81701237'))).status);
    expect(answers).toEqual([...Array(11).fill(201), 403]);
    const [sus] = (await suspensions()).filter((x) => x.value === '81701237');
    expect(sus.figures).toMatchObject({ window: '1h', unverified: 11, threshold: 10, started1h: 40, verified1h: 30, verifiedLastHour: 30, maxDailyVerified14d: 30, maxHourlyVerified14d: 30 });
  });

  it('starts that trip a unit while another transaction is recording a trip of it do not wait for that one: it records the one row', async () => {
    // The test's own session holds the prefix's suspension lock, as a start recording a trip of it holds it to its commit.
    const other = new Client({ connectionString: s.db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 8))', ['suspension:prefix:81701238']);
      const answers: Array<number | 'still waiting'> = [];
      for (let n = 0; n < 13; n++) {
        const answer = await Promise.race([start(bank.key, under('81701238')), sleep(3000, 'still waiting' as const, { ref: false })]);
        answers.push(answer === 'still waiting' ? answer : answer.status);
        if (answer === 'still waiting') break;
      }
      // The 11th start crosses the hourly floor, and so does every one after it: each answers at once, recording
      // nothing, as the holder is the one to record it (on the code before, the 11th waited for the lock).
      expect(answers).toEqual(Array(13).fill(201));
      expect((await suspensions()).filter((x) => x.value === '81701238')).toEqual([]);
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      await other.end();
    }
    // The holder rolled back without recording it: the prefix's next start trips it again and records it, once.
    expect((await start(bank.key, under('81701238'))).status).toBe(201);
    expectProblem(await start(bank.key, under('81701238')), 403, 'risk_denied');
    const rows = (await suspensions()).filter((x) => x.value === '81701238');
    expect(rows).toMatchObject([{ kind: 'prefix', mode: 'enforce', active: true, figures: { window: '1h', unverified: 14, threshold: 10 } }]);
    expect((await events('risk.suspended')).filter((e) => e.data.unit === '81701238')).toHaveLength(1);
  });

  it('the admin routes need the admin scope, and bad queries are 400', async () => {
    expectProblem(await s.t.request('GET', '/v1/admin/suspensions', { key: bank.key }), 403, 'forbidden');
    expectProblem(await s.t.request('GET', '/v1/admin/suspensions?active=maybe', { key: admin.key }), 400, 'validation_failed');
    expectProblem(await s.t.request('GET', '/v1/admin/suspensions?cursor=nope!', { key: admin.key }), 400, 'validation_failed');
    // Paging: newest first, one by one.
    const all = await suspensions();
    const first = await s.t.request('GET', '/v1/admin/suspensions?limit=1', { key: admin.key });
    expect(first.body.items.map((x: any) => x.id)).toEqual([all[0].id]);
    const second = await s.t.request('GET', `/v1/admin/suspensions?limit=1&cursor=${first.body.nextCursor}`, { key: admin.key });
    expect(second.body.items.map((x: any) => x.id)).toEqual([all[1].id]);
  });
});

describe('SMS pumping: countries and end-user IPs', () => {
  let s: SmsStack;
  let clock: FakeClock;
  let admin: { key: string };
  let bank: { key: string; clientId: string };

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    // No per-IP start limit here, so that the IP's pumping rule is what answers.
    s = await startSmsStack({ clock, env: { THROTTLE_LIMIT: '100000', RISK_IP_STARTS_PER_HOUR: '0' } });
    admin = await s.t.createClient(['admin']);
    bank = await s.t.createClient(['verifications:write', 'verifications:check']);
    expect((await s.t.request('PUT', `/v1/admin/clients/${bank.clientId}/policy`, { key: admin.key, body: { countries: ['JP', 'US'] } })).status).toBe(200);
  });
  afterAll(async () => s?.close());

  let n = 0;
  /** Numbers spread over many prefixes, so that no prefix trips first. */
  const us = () => `+1415${320 + (n++ % 70)}${String(2000 + n).slice(-4)}`;
  const jp = () => `+8180${String(10_000_000 + (n++ * 104_729) % 89_999_999).slice(-8)}`;
  const start = (phoneNumber: string, endUser?: Record<string, unknown>) =>
    s.t.request('POST', '/v1/verifications', { key: bank.key, body: { phoneNumber, purpose: 'login', ...(endUser ? { endUser } : {}) } });
  const suspensions = async () => (await s.t.request('GET', '/v1/admin/suspensions?limit=500', { key: admin.key })).body.items as any[];

  it('a foreign country with a burst of unverified codes is suspended: country_suspended', async () => {
    const answers: number[] = [];
    for (let k = 0; k < 15; k++) answers.push((await start(us())).status);
    expect(answers).toEqual([...Array(11).fill(201), ...Array(4).fill(403)]);
    const denied = await start(us());
    expect(denied.body.reasons).toEqual(['country_suspended']);
    expect((await suspensions()).filter((x) => x.kind === 'country')).toMatchObject([{ value: 'US', mode: 'enforce', reason: 'country_suspended', active: true }]);
  });

  it('the home country is never suspended: reported once (audit event, warning log, metric), its starts pass', async () => {
    const answers: number[] = [];
    for (let k = 0; k < 30; k++) answers.push((await start(jp())).status);
    expect(answers.every((st) => st === 201)).toBe(true);
    const jpRows = (await suspensions()).filter((x) => x.kind === 'country' && x.value === 'JP');
    expect(jpRows).toMatchObject([{ mode: 'report', active: true, figures: { window: '1h', unverified: 11, threshold: 10 } }]);
    const [report] = await s.db.query<{ data: any }>(`SELECT data FROM audit_events WHERE type = 'risk.pumping_detected' AND data->>'unit' = 'JP'`);
    expect(report.data).toMatchObject({ kind: 'country', mode: 'report', suspensionId: jpRows[0].id });
    expect(s.t.logs.some((l) => l.includes('SMS pumping suspected on country JP') && l.includes('"level":40'))).toBe(true);
    const metrics = await (await fetch(`${s.t.url}/metrics`)).text();
    expect(metrics).toMatch(/otp_risk_pumping_trips_total\{kind="country",mode="report"\} 1/);
  });

  it('an end-user IP with a burst of unverified codes is suspended: ip_suspended; other IPs pass', async () => {
    clock.advance(13 * HOUR); // past the US suspension and the JP report: a quiet start
    const answers: number[] = [];
    for (let k = 0; k < 13; k++) answers.push((await start(jp(), { ip: '198.51.100.23' })).status);
    expect(answers).toEqual([...Array(11).fill(201), 403, 403]);
    const denied = await start(jp(), { ip: '198.51.100.23' });
    expect(denied.body.reasons).toEqual(['ip_suspended']);
    expect((await start(jp(), { ip: '198.51.100.24' })).status).toBe(201);
    expect((await start(jp())).status).toBe(201);
    expect((await suspensions()).filter((x) => x.kind === 'ip')).toMatchObject([{ value: '198.51.100.23', mode: 'enforce', reason: 'ip_suspended' }]);
  });
});
