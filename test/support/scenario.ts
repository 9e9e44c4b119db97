import type { TestApp, TestResponse } from './app';
import type { FakeServer, Received } from './fake-http';
import { freshPhone } from './phones';
import { waitFor } from './wait';

/**
 * The code in a message text: the run of exactly `length` digits, or without a length the first run of 4 to 10
 * digits. Throws when there is none.
 */
export function codeOf(text: string, length?: number): string {
  const pattern = length === undefined ? /(\d{4,10})/ : new RegExp(`(?<!\\d)(\\d{${length}})(?!\\d)`);
  const code = pattern.exec(text)?.[1];
  if (code === undefined) throw new Error(`no ${length ?? '4 to 10'}-digit code in ${JSON.stringify(text)}`);
  return code;
}

/** The messages the fake SMS provider got for one number, oldest first. */
export const messagesTo = (sms: FakeServer, phone: string): Received[] => sms.received.filter((r) => r.json?.to === phone);

/** The webhooks the fake receiver got about one verification, oldest first. */
export const webhooksFor = (hooks: FakeServer, verificationId: string): Received[] => hooks.received.filter((h) => h.json?.data?.id === verificationId);

/** Waits for the nth (1 = first) message the fake SMS provider gets for `phone`, and returns it. */
export function waitForMessage(sms: FakeServer, phone: string, { nth = 1, timeoutMs }: { nth?: number; timeoutMs?: number } = {}): Promise<Received> {
  return waitFor(() => messagesTo(sms, phone)[nth - 1], {
    timeoutMs,
    what: () => `message ${nth} to ${phone} at the fake SMS provider (it got ${messagesTo(sms, phone).length})`,
  });
}

/** The code in the nth message to `phone` (waiting for it), `length` digits (6 unless given). */
export async function codeSentTo(sms: FakeServer, phone: string, { nth = 1, length = 6 }: { nth?: number; length?: number } = {}): Promise<string> {
  return codeOf((await waitForMessage(sms, phone, { nth })).json.text, length);
}

export interface PostedVerification {
  id: string;
  phone: string;
  res: TestResponse;
}

/** POST /v1/verifications (a fresh phone number and purpose login unless the body says otherwise), expecting 201. */
export async function postVerification(t: TestApp, key: string, body: Record<string, unknown> = {}): Promise<PostedVerification> {
  const payload = { phoneNumber: freshPhone(), purpose: 'login', ...body };
  const res = await t.request('POST', '/v1/verifications', { key, body: payload });
  expect(res.status).toBe(201);
  return { id: res.body.id as string, phone: String(payload.phoneNumber), res };
}

export interface StartedVerification extends PostedVerification {
  /** The code the fake SMS provider received for this verification. */
  code: string;
}

/** postVerification, then the code of the message the fake SMS provider gets for it (the number's next message). */
export async function startVerification(t: TestApp, sms: FakeServer, key: string, body: Record<string, unknown> = {}): Promise<StartedVerification> {
  const phone = String(body.phoneNumber ?? freshPhone());
  const earlier = messagesTo(sms, phone).length;
  const posted = await postVerification(t, key, { ...body, phoneNumber: phone });
  const length = typeof body.codeLength === 'number' ? body.codeLength : 6;
  return { ...posted, code: await codeSentTo(sms, phone, { nth: earlier + 1, length }) };
}

/** Creates, through the admin API, a client 'bank' that may start and check verifications and has its webhooks sent to `hooks`. */
export async function createWebhookCaller(t: TestApp, hooks: FakeServer): Promise<{ key: string; clientId: string; webhookSecret: string }> {
  const admin = await t.createClient(['admin']);
  const res = await t.request('POST', '/v1/admin/clients', {
    key: admin.key,
    body: { name: 'bank', scopes: ['verifications:write', 'verifications:check'], webhookUrl: `${hooks.url}/hook` },
  });
  if (res.status !== 201) throw new Error(`creating the webhook caller answered ${res.status}: ${res.text}`);
  return { key: res.body.apiKey.key, clientId: res.body.id, webhookSecret: res.body.webhookSecret };
}
