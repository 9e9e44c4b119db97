import { Writable } from 'node:stream';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';
import { ClientsService } from '../../src/clients/clients.service';
import { Scope, SCOPES } from '../../src/common/auth';
import { AppConfig } from '../../src/config/app-config';
import { Clock } from '../../src/common/clock';
import type { HostResolver } from '../../src/common/webhook-destinations';

export interface TestApp {
  app: NestFastifyApplication;
  url: string;
  /** Every log line the service wrote in this test file (all instances), raw. */
  logs: string[];
  config: AppConfig;
  /** Creates a client and returns its API key. */
  createClient(scopes?: Scope[], name?: string): Promise<{ clientId: string; key: string; keyId: string }>;
  request(method: string, path: string, opts?: { key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export const TEST_HMAC_KEYS = 'k1:' + 'ab'.repeat(32);

// nestjs-pino keeps its first root logger for the whole process, so every app started in one test file
// writes to the stream of the first: collect them all in one place and let each TestApp read it.
const processLogs: string[] = [];
const logStream = new Writable({
  write(chunk, _enc, cb) {
    processLogs.push(String(chunk));
    cb();
  },
});

/** Boots the real AppModule (as main.ts does) on a test database, listening on a free port. `resolver` stands in for DNS. */
export async function startTestApp(databaseUrl: string, env: Record<string, string> = {}, clock?: Clock, resolver?: HostResolver): Promise<TestApp> {
  const config = AppConfig.fromEnv({
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    DEV_CLIENT_ENABLED: 'false',
    LOG_LEVEL: 'info',
    OTP_HMAC_KEYS: TEST_HMAC_KEYS,
    ...env,
  });
  const logs = processLogs;
  const app = await createApp({ config, clock, resolver, logStream: { write: (msg: string) => logStream.write(msg) } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${address.port}`;
  let counter = 0;

  return {
    app,
    url,
    logs,
    config,
    async createClient(scopes = [...SCOPES], name = `client-${Date.now().toString(36)}-${counter++}-${Math.random().toString(36).slice(2, 6)}`) {
      const created = await app.get(ClientsService).createClient({ name, scopes });
      return { clientId: created.id, key: created.apiKey.key, keyId: created.apiKey.id };
    },
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.key) headers.authorization = `Bearer ${opts.key}`;
      let body: string | undefined;
      if (opts.rawBody !== undefined) body = opts.rawBody;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
      const res = await fetch(url + path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    async close() {
      await app.close();
    },
  };
}
