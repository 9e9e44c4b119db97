import { createHmac } from 'node:crypto';
import { Webhook as SvixWebhook } from 'svix';
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import { FakeClock } from './support/fake-clock';
import type { Received } from './support/fake-http';
import { createWebhookCaller, startVerification } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { waitFor } from './support/wait';
import { signedWith, verifiesWith, webhookHeaders } from './support/webhooks';

/**
 * The Standard Webhooks specification, written out again here from its text (independent of the service's
 * code and of the official library): base64 HMAC-SHA256 keyed with the base64 part of `whsec_…`, over
 * `<webhook-id>.<webhook-timestamp>.<body>`; `webhook-signature` holds space-separated `v1,<signature>`.
 */
function signaturesPerSpec(r: Received, secret: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`).digest('base64');
  return String(r.headers['webhook-signature'])
    .split(' ')
    .some((s) => s === `v1,${expected}`);
}

describe('webhooks signed as Standard Webhooks', () => {
  let s: SmsStack;
  let clock: FakeClock;
  let caller: { key: string; clientId: string; webhookSecret: string };
  let adminKey: string;

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    // no poller on a timer: the retries below are the test's own polls, each waiting for the sends it claimed
    s = await startSmsStack({ clock, env: { WEBHOOK_SECRET_ROTATION_OVERLAP_HOURS: '24', OUTBOX_POLL_INTERVAL_MS: '3600000' } });
    caller = await createWebhookCaller(s.t, s.hooks);
    ({ key: adminKey } = await s.t.createClient(['admin']));
  });
  afterAll(async () => {
    await s?.close();
  });

  /** Approves a fresh verification and returns the webhook it produced. */
  async function approvedWebhook(): Promise<Received> {
    const before = s.hooks.received.length;
    const { id, code } = await startVerification(s.t, s.sms, caller.key);
    expect((await s.t.request('POST', `/v1/verifications/${id}/check`, { key: caller.key, body: { code } })).status).toBe(200);
    const [hook] = (await s.hooks.waitFor(before + 1)).slice(before);
    expect(hook.json.data.id).toBe(id);
    return hook;
  }

  it('verifies with the official library, with svix, and by the specification; a tampered body, a wrong secret or an old timestamp fail', async () => {
    clock.set(new Date());
    const hook = await approvedWebhook();
    expect(caller.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(hook.headers['webhook-id']).toBe(hook.json.id);
    expect(Math.abs(Number(hook.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);

    expect(verifiesWith(hook, caller.webhookSecret)).toBe(true);
    expect(() => new SvixWebhook(caller.webhookSecret).verify(hook.body, webhookHeaders(hook))).not.toThrow();
    expect(signaturesPerSpec(hook, caller.webhookSecret)).toBe(true);
    // the check every SMS-stack spec runs on close accepts this one and would refuse it under another secret
    expect(signedWith(hook, caller.webhookSecret)).toBe(true);
    expect(signedWith(hook, 'whsec_' + Buffer.alloc(32, 7).toString('base64'))).toBe(false);

    expect(verifiesWith({ ...hook, body: hook.body.replace('approved', 'expired') }, caller.webhookSecret)).toBe(false);
    expect(verifiesWith(hook, 'whsec_' + Buffer.alloc(32, 7).toString('base64'))).toBe(false);
    expect(() => new SvixWebhook('whsec_' + Buffer.alloc(32, 7).toString('base64')).verify(hook.body, webhookHeaders(hook))).toThrow();

    // Signed ten minutes ago (the service's clock), the same webhook is outside the library's 5-minute tolerance.
    clock.set(new Date(Date.now() - 10 * 60 * 1000));
    const old = await approvedWebhook();
    clock.set(new Date());
    expect(signaturesPerSpec(old, caller.webhookSecret)).toBe(true);
    expect(verifiesWith(old, caller.webhookSecret)).toBe(false);
  });

  it('a rotation answers the new secret once and signs with both until the overlap ends, then with the new one only; audited without secrets', async () => {
    clock.set(new Date());
    const oldSecret = caller.webhookSecret;
    const rotated = await s.t.request('POST', `/v1/admin/clients/${caller.clientId}/webhook-secret:rotate`, { key: adminKey });
    expect(rotated.status).toBe(200);
    const newSecret: string = rotated.body.webhookSecret;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    expect(new Date(rotated.body.previousSecretValidUntil).getTime() - clock.now().getTime()).toBe(24 * 3600 * 1000);

    const during = await approvedWebhook();
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifiesWith(during, oldSecret)).toBe(true);
    expect(verifiesWith(during, newSecret)).toBe(true);
    expect(signaturesPerSpec(during, oldSecret) && signaturesPerSpec(during, newSecret)).toBe(true);

    clock.advance(25 * 3600 * 1000);
    const after = await approvedWebhook();
    clock.set(new Date());
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(signaturesPerSpec(after, newSecret)).toBe(true);
    expect(signaturesPerSpec(after, oldSecret)).toBe(false);
    caller.webhookSecret = newSecret;

    const [event] = await s.db.query<{ data: Record<string, unknown>; actor_type: string }>(
      `SELECT data, actor_type FROM audit_events WHERE type = 'client.webhook_secret_rotated' AND client_id = $1`,
      [caller.clientId],
    );
    expect(event.data).toEqual({ overlapEndsAt: rotated.body.previousSecretValidUntil });
    expect(JSON.stringify(event)).not.toContain(newSecret.slice(6, 20));

    const notFound = await s.t.request('POST', '/v1/admin/clients/cli_nope/webhook-secret:rotate', { key: adminKey });
    expect(notFound.status).toBe(404);
    expect((await s.t.request('POST', `/v1/admin/clients/${caller.clientId}/webhook-secret:rotate`, { key: caller.key })).status).toBe(403);
  });

  it('410 Gone disables the client endpoint at once (no retries, audited) until an admin enables it again', async () => {
    clock.set(new Date());
    const gone = s.hooks.respond;
    s.hooks.respond = () => ({ status: 410 });
    const before = s.hooks.received.length;
    try {
      await approvedWebhook();
      await waitFor(async () => (await s.t.request('GET', `/v1/admin/clients/${caller.clientId}`, { key: adminKey })).body.webhookDisabledAt !== null, {
        timeoutMs: 10000,
        what: 'the endpoint disabled',
      });
    } finally {
      s.hooks.respond = gone;
    }
    // No retry of the 410, and the next result is not sent to the disabled endpoint.
    await s.t.app.get(OutboxDispatcher).pollOnce();
    expect(s.hooks.received.length).toBe(before + 1);
    const { id, code } = await startVerification(s.t, s.sms, caller.key);
    expect((await s.t.request('POST', `/v1/verifications/${id}/check`, { key: caller.key, body: { code } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(s.hooks.received.length).toBe(before + 1);
    const [disabled] = await s.db.query<{ actor_type: string; data: Record<string, unknown> }>(
      `SELECT actor_type, data FROM audit_events WHERE type = 'client.webhook_disabled' AND client_id = $1`,
      [caller.clientId],
    );
    expect(disabled.data).toMatchObject({ reason: 'HTTP 410 Gone', host: new URL(s.hooks.url).host });

    const enabled = await s.t.request('POST', `/v1/admin/clients/${caller.clientId}/webhook-endpoint:enable`, { key: adminKey });
    expect(enabled.status).toBe(200);
    expect(enabled.body.webhookDisabledAt).toBeNull();
    const [audit] = await s.db.query(`SELECT 1 FROM audit_events WHERE type = 'client.webhook_enabled' AND client_id = $1`, [caller.clientId]);
    expect(audit).toBeDefined();
    const hook = await approvedWebhook();
    expect(verifiesWith(hook, caller.webhookSecret)).toBe(true);
  });

  it('a 5xx is retried for about three days (12 tries), every try recorded, then given up', async () => {
    const start = new Date();
    clock.set(start);
    const failing = s.hooks.respond;
    s.hooks.respond = () => ({ status: 503 });
    try {
      const hook = await approvedWebhook();
      const eventId = hook.headers['webhook-id'];
      const tries = () => s.hooks.received.filter((r) => r.headers['webhook-id'] === eventId);
      const dispatcher = s.t.app.get(OutboxDispatcher);
      for (let hour = 0; hour < 24 * 4 && tries().length < 12; hour++) {
        clock.advance(3600 * 1000);
        await dispatcher.pollOnce();
      }
      clock.advance(24 * 3600 * 1000);
      await dispatcher.pollOnce();
      expect(tries()).toHaveLength(12);
      const [row] = await s.db.query<{ status: string; attempts: number; n: number; first: Date; last: Date }>(
        `SELECT o.status, o.attempts, count(a.*)::int AS n, min(a.attempted_at) AS first, max(a.attempted_at) AS last
           FROM outbox o JOIN outbox_attempts a ON a.outbox_id = o.id
          WHERE o.kind = 'webhook' AND o.verification_id = $1 GROUP BY o.id`,
        [hook.json.data.id],
      );
      expect(row).toMatchObject({ status: 'failed', attempts: 12, n: 12 });
      const days = (new Date(row.last).getTime() - new Date(row.first).getTime()) / 86400000;
      expect(days).toBeGreaterThan(2.5);
      expect(days).toBeLessThan(3.5);
    } finally {
      s.hooks.respond = failing;
      clock.set(new Date());
    }
  });
});
