import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { LAUNCH_FLAGS } from '../src/bootstrap';
import { AppConfig } from '../src/config/app-config';
import { ENV_VARIABLES } from '../src/config/env.schema';
import { ROOT } from './support/process';

// No Docker engine runs here, so the files are checked by reading them.
describe('docker-compose.yml and Dockerfile', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  it('the service sets only variables the config knows', () => {
    const env = compose.services.otp.environment as Record<string, string>;
    expect(Object.keys(env).length).toBeGreaterThan(3);
    for (const name of Object.keys(env)) expect(ENV_VARIABLES).toContain(name);
  });

  it('the service depends on a healthy PostgreSQL (and Redis) and is wired to them by name', () => {
    const otp = compose.services.otp;
    expect(otp.depends_on.postgres.condition).toBe('service_healthy');
    expect(otp.depends_on.redis.condition).toBe('service_healthy');
    expect(compose.services.postgres.healthcheck.test.join(' ')).toContain('pg_isready');
    const db = new URL(otp.environment.DATABASE_URL);
    expect(db.hostname).toBe('postgres');
    expect(db.username).toBe(compose.services.postgres.environment.POSTGRES_USER);
    expect(db.pathname).toBe(`/${compose.services.postgres.environment.POSTGRES_DB}`);
    expect(new URL(otp.environment.REDIS_URL).hostname).toBe('redis');
    expect(otp.build).toBe('.');
  });

  it('the service runs production with real providers: no console provider, and their endpoints and token must be set', () => {
    const env = compose.services.otp.environment as Record<string, string>;
    expect(env.NODE_ENV).toBe('production');
    expect(env.SMS_PROVIDER).toBe('http');
    expect(env.VOICE_PROVIDER).toBe('http');
    // `${VAR:?message}`: `docker compose up` stops, naming VAR, when it is unset or empty
    for (const name of ['SMS_HTTP_URL', 'VOICE_HTTP_URL', 'PROVIDER_HTTP_TOKEN', 'OTP_HMAC_KEYS', 'AUDIT_PHONE_HASH_KEY']) {
      expect(env[name]).toMatch(new RegExp(`^\\$\\{${name}:\\?.+\\}$`));
    }
  });

  it('with its required variables given, the service environment passes the checks of a production start', () => {
    const given: Record<string, string> = {
      OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32),
      AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32),
      SMS_HTTP_URL: 'https://sms.example.jp/send',
      VOICE_HTTP_URL: 'https://ivr.example.jp/call',
      PROVIDER_HTTP_TOKEN: 'token-0123456789abcdef',
    };
    const env = compose.services.otp.environment as Record<string, string>;
    const resolved = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{(\w+):\?[^}]*\}/g, (_, name: string) => given[name] ?? `<unset ${name}>`)]),
    );
    const config = AppConfig.fromEnv(resolved);
    expect(config.isProduction).toBe(true);
    expect(config.startupProblems()).toEqual([]);
    // and without the provider settings, production would refuse the console defaults
    const { SMS_PROVIDER: _s, VOICE_PROVIDER: _v, ...withoutProviders } = resolved;
    expect(AppConfig.fromEnv(withoutProviders).startupProblems().join('\n')).toMatch(/SMS_PROVIDER=console[^]*VOICE_PROVIDER=console/);
  });

  it('compose gives the service a stop grace period longer than its own shutdown timeout, which outlasts a send\'s budget', () => {
    const defaults = AppConfig.fromEnv({});
    const grace = /^(\d+)s$/.exec(String(compose.services.otp.stop_grace_period));
    expect(grace).not.toBeNull();
    expect(Number(grace![1]) * 1000).toBeGreaterThan(defaults.http.shutdownTimeoutMs);
    expect(defaults.http.shutdownTimeoutMs).toBeGreaterThan(defaults.gateway.routing.budgetMs);
    // and production refuses a shutdown shorter than a send may take
    const production = { NODE_ENV: 'production', OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32), AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32), SMS_PROVIDER: 'http', VOICE_PROVIDER: 'http', SMS_HTTP_URL: 'https://sms.example.jp/send', VOICE_HTTP_URL: 'https://ivr.example.jp/call', PROVIDER_HTTP_TOKEN: 'token-0123456789abcdef' };
    expect(AppConfig.fromEnv(production).startupProblems()).toEqual([]);
    expect(AppConfig.fromEnv({ ...production, SHUTDOWN_TIMEOUT_MS: '10000' }).startupProblems()).toEqual([expect.stringMatching(/^SHUTDOWN_TIMEOUT_MS \(10000\) must be longer than PROVIDER_SEND_BUDGET_MS \(15000\)/)]);
  });

  it('the Dockerfile is multi-stage, runs as a non-root user, has a healthcheck and starts the built service', () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/COPY --from=build/);
    expect(dockerfile).toMatch(/^USER (?!root)\w+/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/health\/ready/m);
    expect(dockerfile).toMatch(/^CMD \["node", "--no-memory-reducer", "--max-semi-space-size=8", "dist\/src\/main.js"\]$/m);
    const envLines = [...dockerfile.matchAll(/^\s*([A-Z_]+)=/gm)].map((m) => m[1]);
    for (const name of envLines) expect(ENV_VARIABLES).toContain(name);
  });

  it("the image and npm's start scripts launch node with the service's launch flags", () => {
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    expect(cmd).toEqual(['node', ...LAUNCH_FLAGS, 'dist/src/main.js']);
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    for (const name of ['start', 'start:prod']) expect(scripts[name]).toBe(`node ${LAUNCH_FLAGS.join(' ')} dist/src/main.js`);
  });

  it('both stages of the image run the Node version that CI runs the suite on a second time', () => {
    const versions = [...dockerfile.matchAll(/^FROM node:(\d+\.\d+\.\d+)-bookworm-slim AS \w+$/gm)].map((m) => m[1]);
    expect(versions).toHaveLength(dockerfile.match(/^FROM /gm)?.length ?? -1);
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    const pinned = /^IMAGE_NODE=(\d+\.\d+\.\d+)$/m.exec(ci)?.[1];
    expect(pinned).toBeDefined();
    expect(new Set(versions)).toEqual(new Set([pinned]));
    expect(ci).toMatch(/^IMAGE_NODE_INTEGRITY=sha512-[A-Za-z0-9+/]{86}==$/m);
    expect(ci).toMatch(/^PATH="\$image_node\/package\/bin:\$PATH" npm test$/m);
  });

  it('the README documents every configuration variable', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const name of ENV_VARIABLES) expect(readme).toContain(`\`${name}\``);
  });
});
