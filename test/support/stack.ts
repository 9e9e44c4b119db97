import { startTestApp, TestApp } from './app';
import { createTestDatabase, TestDatabase } from './database';
import { FakeServer, startFakeServer } from './fake-http';
import { assertWebhooksVerify } from './webhooks';

export interface StackOptions {
  /** Environment of every instance, over the test defaults of startTestApp. */
  env?: Record<string, string>;
  clock?: Parameters<typeof startTestApp>[2];
  /** Answers the DNS lookups of webhook destinations (host names the test makes up). */
  resolver?: Parameters<typeof startTestApp>[3];
  /** How many instances of the service share the database; 1 unless given. */
  instances?: number;
  /** A database to use (it is not dropped on close); a fresh one unless given. */
  db?: TestDatabase;
}

/** A database and the service instances running on it, for one spec file or one test. */
export interface Stack {
  db: TestDatabase;
  /** The first instance. */
  t: TestApp;
  apps: TestApp[];
  /** Closes the instances, then drops the database if the stack created it. */
  close(): Promise<void>;
}

/** And a fake SMS provider every instance sends to (SMS_PROVIDER=http), and a fake webhook receiver. */
export interface SmsStack extends Stack {
  sms: FakeServer;
  hooks: FakeServer;
}

/**
 * Starts what a spec file needs in one call, e.g. `s = await startStack({ env: { THROTTLE_LIMIT: '1000' } })` in
 * beforeAll and `await s?.close()` in afterAll. What was started before a failure is closed again.
 */
export async function startStack({ env = {}, clock, resolver, instances = 1, db: given }: StackOptions = {}): Promise<Stack> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closeOne of closers.splice(0).reverse()) await closeOne();
  };
  try {
    const db = given ?? (await createTestDatabase());
    if (!given) closers.push(() => db.drop());
    const apps: TestApp[] = [];
    for (let i = 0; i < instances; i++) {
      const app = await startTestApp(db.url, env, clock, resolver);
      closers.push(() => app.close());
      apps.push(app);
    }
    return { db, t: apps[0], apps, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** startStack, with a fake SMS provider and a fake webhook receiver started first and closed last. */
export async function startSmsStack(opts: StackOptions = {}): Promise<SmsStack> {
  const sms = await startFakeServer();
  const hooks = await startFakeServer();
  const closeServers = async () => {
    await sms.close();
    await hooks.close();
  };
  try {
    const stack = await startStack({ ...opts, env: { SMS_PROVIDER: 'http', SMS_HTTP_URL: `${sms.url}/sms`, ...opts.env } });
    const close = async () => {
      try {
        // Every webhook these specs received is checked with the official Standard Webhooks library.
        const rows = await stack.db.query<{ s: string | null; p: string | null }>(`SELECT webhook_secret AS s, previous_webhook_secret AS p FROM api_clients`);
        assertWebhooksVerify(hooks.received, rows.flatMap((r) => [r.s, r.p]).filter((x): x is string => !!x));
      } finally {
        try {
          await stack.close();
        } finally {
          await closeServers();
        }
      }
    };
    return { ...stack, sms, hooks, close };
  } catch (err) {
    await closeServers();
    throw err;
  }
}
