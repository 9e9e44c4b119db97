// Delivery edges: a provider that accepts a message (2xx) without giving an id has still accepted it, so
// it is recorded as sent once and never resent; and the audit events of a message (message.sent,
// message.failed) carry its phone number, so a search by phone number finds the whole story.
import { OutboxDispatcher } from '../src/gateway/outbox.dispatcher';
import type { FakeServer } from './support/fake-http';
import type { TestApp } from './support/app';
import type { TestDatabase } from './support/database';
import { freshPhone } from './support/phones';
import { messagesTo, postVerification, startVerification } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';
import { waitFor } from './support/wait';

describe('delivery edges (real app, real PostgreSQL, fake HTTP SMS provider)', () => {
  let stack: SmsStack;
  let t: TestApp;
  let db: TestDatabase;
  let sms: FakeServer;
  let caller: { key: string; clientId: string };
  let auditor: { key: string };

  beforeAll(async () => {
    // no background polling: the test polls itself, after making every row due
    stack = await startSmsStack({ env: { OUTBOX_POLL_INTERVAL_MS: '600000', PROVIDER_HTTP_TOKEN: 'provider-token-0123456789' } });
    ({ t, sms, db } = stack);
    caller = await t.createClient(['verifications:write', 'verifications:check']);
    auditor = await t.createClient(['audit:read']);
  });
  afterAll(async () => stack?.close());

  const settled = (id: string) =>
    waitFor(async () => (await db.query<{ status: string }>(`SELECT status FROM outbox WHERE verification_id = $1 AND kind = 'sms'`, [id]))[0]?.status !== 'sending', {
      what: `the message of ${id} to leave 'sending'`,
    });

  /** Makes every pending row due now and runs one poll, as a later poller (of any instance) would. */
  const pollEverythingDue = async () => {
    await db.query(`UPDATE outbox SET next_attempt_at = now() - interval '1 second' WHERE status = 'pending'`);
    return t.app.get(OutboxDispatcher).pollOnce();
  };

  describe('a provider answering 2xx without an id', () => {
    it.each([
      ['an empty body', (): { status: number; body?: unknown } => ({ status: 200 })],
      ['a JSON body without id', () => ({ status: 202, body: { accepted: true } })],
      ['a bare JSON string', () => ({ status: 200, body: 'queued' })],
    ])('(%s) gets the message exactly once, and the verification reads delivery sent', async (_what, answer) => {
      sms.respond = answer;
      const phone = freshPhone();
      const { id } = await postVerification(t, caller.key, { phoneNumber: phone });
      await waitFor(() => messagesTo(sms, phone).length === 1, { what: `the message to ${phone} at the fake provider` });
      await settled(id);

      expect(await db.query(`SELECT status, attempts, provider, provider_message_id, delivery_status, payload FROM outbox WHERE verification_id = $1`, [id])).toEqual([
        { status: 'done', attempts: 1, provider: 'http', provider_message_id: null, delivery_status: 'sent', payload: null },
      ]);
      expect(await db.query(`SELECT attempt, ok FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id WHERE o.verification_id = $1`, [id])).toEqual([{ attempt: 1, ok: true }]);
      expect(await pollEverythingDue()).toBe(0);
      expect(messagesTo(sms, phone)).toHaveLength(1);

      const got = await t.request('GET', `/v1/verifications/${id}`, { key: caller.key });
      expect(got.body).toMatchObject({ status: 'pending', delivery: { status: 'sent', provider: 'http', attempts: 1 } });
      const [sent] = await db.query<{ data: any }>(`SELECT data FROM audit_events WHERE verification_id = $1 AND type = 'message.sent'`, [id]);
      expect(sent.data).toMatchObject({ provider: 'http', providerMessageId: null });

      // a warning says so, with the number masked, and no code, number or token
      const warning = t.logs.filter((l) => l.includes('without a message id') && l.includes(phone.slice(-4)));
      expect(warning).toHaveLength(1);
      expect(warning[0]).toContain('+81*******' + phone.slice(-4));
      const code = /\d{6}/.exec(messagesTo(sms, phone)[0].json.text)?.[0] as string;
      for (const secret of [phone, 'provider-token-0123456789', code]) expect(warning[0]).not.toContain(secret);
    });
  });

  describe('audit events of a message carry its phone number (hashed and masked)', () => {
    const byPhone = async (phone: string) => {
      const res = await t.request('GET', `/v1/admin/audit-events?phoneNumber=${encodeURIComponent(phone)}`, { key: auditor.key });
      expect(res.status).toBe(200);
      return res.body.items as Array<{ type: string; verificationId: string; phoneNumber: string }>;
    };

    it('a whole flow: the search by phone number returns message.queued AND message.sent for the verification', async () => {
      sms.respond = () => ({ status: 200, body: { id: `fake-${Date.now()}` } });
      const phone = freshPhone();
      const { id, code } = await startVerification(t, sms, caller.key, { phoneNumber: phone });
      const check = await t.request('POST', `/v1/verifications/${id}/check`, { key: caller.key, body: { code } });
      expect(check.body.status).toBe('approved');
      await settled(id);

      const items = await waitFor(async () => {
        const found = await byPhone(phone);
        return found.some((e) => e.type === 'message.sent') && found;
      }, { what: `message.sent found by ${phone}` });
      const types = items.filter((e) => e.verificationId === id).map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['message.queued', 'message.sent']));
      expect(items.every((e) => e.phoneNumber === '+81*******' + phone.slice(-4))).toBe(true);
      const [row] = await db.query<any>(`SELECT * FROM audit_events WHERE verification_id = $1 AND type = 'message.sent'`, [id]);
      expect(row.phone_masked).toBe('+81*******' + phone.slice(-4));
      expect(JSON.stringify(row)).not.toContain(phone.slice(1));
      expect(JSON.stringify(row)).not.toContain(code);
    });

    it('a message no provider accepts: message.failed is found by the phone number too', async () => {
      sms.respond = () => ({ status: 400, body: { error: 'bad number' } });
      const phone = freshPhone();
      const { id } = await postVerification(t, caller.key, { phoneNumber: phone });
      await settled(id);
      const items = await byPhone(phone);
      expect(items.filter((e) => e.verificationId === id).map((e) => e.type)).toEqual(expect.arrayContaining(['message.queued', 'message.failed']));
    });
  });
});
