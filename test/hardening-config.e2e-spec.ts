// The built service (`node dist/src/main.js`) at start: a bad configuration never prints a secret, and
// production refuses the console provider, which would accept every message and send none.
import { createTestDatabase, TestDatabase } from './support/database';
import { freePort } from './support/net';
import { MAIN, runBuilt, waitUntilReady } from './support/process';

const PRODUCTION = {
  NODE_ENV: 'production',
  OTP_HMAC_KEYS: 'k1:' + 'cd'.repeat(32),
  AUDIT_PHONE_HASH_KEY: 'ef'.repeat(32),
  DATABASE_URL: 'postgres://otp:otp@127.0.0.1:9/otp',
};

describe('the built service at start', () => {
  describe('an invalid configuration exits 78 naming the variables, with no secret on stderr or stdout', () => {
    it.each([
      [{ DATABASE_URL: 'mysql://otp:Db-S3cret-pw@db:5432/otp' }, ['DATABASE_URL'], ['Db-S3cret-pw']],
      [{ DATABASE_URL: 'postgres://otp:Port-S3cret-pw@db:notaport/otp' }, ['DATABASE_URL'], ['Port-S3cret-pw']],
      [
        { DATABASE_URL: 'postgres://otp:Db-S3cret-pw@/otp', REDIS_URL: 'http://:R3dis-S3cret@redis:6379', PROVIDER_HTTP_TOKEN: 'tok-S3cret' },
        ['DATABASE_URL', 'REDIS_URL', 'PROVIDER_HTTP_TOKEN'],
        ['Db-S3cret-pw', 'R3dis-S3cret', 'tok-S3cret'],
      ],
    ])('%j', async (env, names, secrets) => {
      const run = runBuilt(MAIN, env as Record<string, string>);
      expect(await run.exited).toBe(78);
      expect(run.stderr()).toContain('Invalid configuration');
      for (const name of names) expect(run.stderr()).toContain(`${name}=`);
      for (const secret of secrets) expect(run.stderr() + run.stdout()).not.toContain(secret);
    });
  });

  describe('production refuses the console provider (exit 78, naming the variable)', () => {
    it('with the defaults: SMS_PROVIDER and VOICE_PROVIDER are both named', async () => {
      const run = runBuilt(MAIN, PRODUCTION);
      expect(await run.exited).toBe(78);
      expect(run.stderr()).toContain('Invalid configuration');
      expect(run.stderr()).toContain('SMS_PROVIDER=console is refused when NODE_ENV=production');
      expect(run.stderr()).toContain('VOICE_PROVIDER=console is refused when NODE_ENV=production');
      expect(run.stdout()).not.toContain('listening');
    });

    it('an http SMS provider but the console for voice: VOICE_PROVIDER is named', async () => {
      const run = runBuilt(MAIN, { ...PRODUCTION, SMS_PROVIDER: 'http', SMS_HTTP_URL: 'http://127.0.0.1:9/sms' });
      expect(await run.exited).toBe(78);
      expect(run.stderr()).toContain('VOICE_PROVIDER=console');
      expect(run.stderr()).not.toContain('SMS_PROVIDER=console');
    });

    describe('with real providers', () => {
      let db: TestDatabase;
      beforeAll(async () => {
        db = await createTestDatabase();
      });
      afterAll(async () => db?.drop());

      it('starts and gets ready', async () => {
        const port = await freePort();
        const run = runBuilt(MAIN, {
          ...PRODUCTION,
          DATABASE_URL: db.url,
          PORT: String(port),
          HOST: '127.0.0.1',
          SMS_PROVIDER: 'http',
          SMS_HTTP_URL: 'http://127.0.0.1:9/sms',
          VOICE_PROVIDER: 'http',
          VOICE_HTTP_URL: 'http://127.0.0.1:9/voice',
          PROVIDER_HTTP_TOKEN: 'provider-token-0123456789',
        });
        try {
          await waitUntilReady(run, `http://127.0.0.1:${port}`);
        } finally {
          run.child.kill('SIGTERM');
          expect(await run.exited).toBe(0);
        }
        expect(run.stderr() + run.stdout()).not.toContain('provider-token-0123456789');
      }, 60000);
    });
  });
});
