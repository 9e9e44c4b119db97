import type { TestDatabase } from './support/database';
import type { TestApp } from './support/app';
import { expectProblem } from './support/problem';
import { Stack, startStack } from './support/stack';
import { waitFor } from './support/wait';

describe('service foundation (real AppModule, real PostgreSQL)', () => {
  let stack: Stack;
  let db: TestDatabase;
  let t: TestApp;
  let admin: { key: string; clientId: string };

  beforeAll(async () => {
    stack = await startStack({ env: { THROTTLE_LIMIT: '1000' } });
    ({ db, t } = stack);
    admin = await t.createClient(['admin']);
  });
  afterAll(async () => stack?.close());

  describe('authentication', () => {
    it('401 without a key, with a malformed header, with an unknown key', async () => {
      expectProblem(await t.request('GET', '/v1/admin/clients'), 401, 'unauthorized');
      expectProblem(await t.request('GET', '/v1/admin/clients', { headers: { authorization: 'Basic abc' } }), 401, 'unauthorized');
      const bogus = 'otp_AAAAAAAAAAAA_' + 'B'.repeat(40);
      const res = await t.request('GET', '/v1/admin/clients', { key: bogus });
      expectProblem(res, 401, 'unauthorized');
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    });

    it('401 for a right prefix with a wrong secret', async () => {
      const wrong = admin.key.slice(0, -5) + 'zzzzz';
      expectProblem(await t.request('GET', '/v1/admin/clients', { key: wrong }), 401, 'unauthorized');
    });

    it('403 when the key lacks the scope', async () => {
      const { key } = await t.createClient(['verifications:write']);
      const res = await t.request('GET', '/v1/admin/clients', { key });
      expectProblem(res, 403, 'forbidden');
      expect(res.body.detail).toContain('admin');
    });

    it('a revoked key is refused (401) and the others of the client keep working', async () => {
      const created = await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: 'revoke-me', scopes: ['admin'] } });
      expect(created.status).toBe(201);
      const first = created.body.apiKey;
      expect(first.key).toMatch(/^otp_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}$/);
      const second = await t.request('POST', `/v1/admin/clients/${created.body.id}/keys`, { key: admin.key });
      expect(second.status).toBe(201);

      expect((await t.request('GET', '/v1/admin/clients', { key: first.key })).status).toBe(200);
      const revoked = await t.request('DELETE', `/v1/admin/clients/${created.body.id}/keys/${first.id}`, { key: admin.key });
      expect(revoked.status).toBe(200);
      expect(revoked.body.revokedAt).toEqual(expect.any(String));
      expect(revoked.body.key).toBeUndefined();

      expectProblem(await t.request('GET', '/v1/admin/clients', { key: first.key }), 401, 'unauthorized');
      expect((await t.request('GET', '/v1/admin/clients', { key: second.body.key })).status).toBe(200);
    });

    it('stores only a hash of each key and never lists the key itself', async () => {
      const list = await t.request('GET', '/v1/admin/clients', { key: admin.key });
      expect(list.status).toBe(200);
      expect(list.text).not.toContain(admin.key);
      expect(list.text).not.toContain(admin.key.split('_')[2]);
      const rows = await db.query<{ key_hash: Buffer; prefix: string }>('SELECT key_hash, prefix FROM api_keys');
      expect(rows.length).toBeGreaterThan(0);
      const dump = JSON.stringify(await db.query('SELECT * FROM api_keys')) + JSON.stringify(await db.query('SELECT * FROM api_clients'));
      expect(dump).not.toContain(admin.key.split('_')[2]);
      expect(rows.every((r) => r.key_hash.length === 32)).toBe(true);
    });

    it('never writes a presented key into answers or logs', async () => {
      const secretish = 'otp_ZZZZZZZZZZZZ_' + 'Q'.repeat(40);
      const res = await t.request('GET', '/v1/admin/clients/nope', { key: secretish });
      expect(res.text).not.toContain('QQQQQQQQ');
      await t.request('GET', '/v1/admin/clients/nope', { key: admin.key });
      await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: 'BAD', scopes: [] } });
      const logs = t.logs.join('');
      expect(logs.length).toBeGreaterThan(0);
      expect(logs).toContain('[redacted]');
      expect(logs).not.toContain('QQQQQQQQ');
      expect(logs).not.toContain(admin.key.split('_')[2]);
    });
  });

  describe('errors are problem+json', () => {
    it('400 validation_failed lists each bad field and rejects unknown fields', async () => {
      const res = await t.request('POST', '/v1/admin/clients', {
        key: admin.key,
        body: { name: 'Not Valid!', scopes: ['everything'], webhookUrl: 'ftp://x', extra: 1 },
      });
      expectProblem(res, 400, 'validation_failed');
      const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
      expect(fields).toEqual(['extra', 'name', 'scopes', 'webhookUrl']);
      expect(res.body.errors.find((e: { field: string }) => e.field === 'extra').message).toMatch(/not a known field/);
      expect(await db.query(`SELECT 1 FROM api_clients WHERE name = 'Not Valid!'`)).toHaveLength(0);
    });

    it('400 for malformed JSON', async () => {
      const res = await t.request('POST', '/v1/admin/clients', { key: admin.key, rawBody: '{"name": ' });
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.detail).toMatch(/JSON/);
    });

    it('413 for a body over 16 KiB, and nothing is created', async () => {
      const res = await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: 'big', scopes: ['admin'], pad: 'x'.repeat(17 * 1024) } });
      expectProblem(res, 413, 'payload_too_large');
      expect(await db.query(`SELECT 1 FROM api_clients WHERE name = 'big'`)).toHaveLength(0);
    });

    it('404 for an unknown route and for an unknown client', async () => {
      expectProblem(await t.request('GET', '/v1/nothing-here', { key: admin.key }), 404, 'not_found');
      expectProblem(await t.request('GET', '/v1/admin/clients/cli_nope', { key: admin.key }), 404, 'not_found');
    });

    it('409 for a duplicate client name, also when created concurrently', async () => {
      await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: 'dupe', scopes: ['admin'] } });
      expectProblem(await t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: 'dupe', scopes: ['admin'] } }), 409, 'client_name_taken');
      const racing = await Promise.all(
        Array.from({ length: 8 }, () => t.request('POST', '/v1/admin/clients', { key: admin.key, body: { name: 'dupe-race', scopes: ['admin'] } })),
      );
      expect(racing.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
      expect(racing.filter((r) => r.status === 409).every((r) => r.body.code === 'client_name_taken')).toBe(true);
    });

    it('an unexpected error is a generic 500 that leaks nothing, and its cause is logged with the request id', async () => {
      await db.query('ALTER TABLE api_clients RENAME COLUMN webhook_url TO webhook_url_gone');
      try {
        const res = await t.request('GET', '/v1/admin/clients', { key: admin.key, headers: { 'x-request-id': 'req-500-check' } });
        expectProblem(res, 500, 'internal_error');
        expect(res.text).not.toMatch(/webhook_url|column|SELECT|QueryFailed/i);
        expect(res.body.detail).toContain('req-500-check');
        const line = t.logs.find((l) => l.includes('"level":50') && l.includes('req-500-check') && l.includes('Unhandled error'));
        expect(line).toBeDefined();
        expect(line).toContain('webhook_url');
        // logged while serving the request: it carries the request (bound for the request, not passed by the filter)
        expect(JSON.parse(line!).req).toMatchObject({ id: 'req-500-check', method: 'GET', url: '/v1/admin/clients' });
        // and the answer's own line, at error level for a 5xx
        const answer = t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'request errored' && l.req?.id === 'req-500-check');
        expect(answer).toMatchObject({ level: 50, res: { statusCode: 500 }, service: 'otp-verify' });
      } finally {
        await db.query('ALTER TABLE api_clients RENAME COLUMN webhook_url_gone TO webhook_url');
      }
    });
  });

  describe('operations', () => {
    it('/health/live and /health/ready answer 200 with the database up and migrations applied', async () => {
      expect((await t.request('GET', '/health/live')).status).toBe(200);
      const ready = await t.request('GET', '/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.info).toMatchObject({ database: { status: 'up' }, migrations: { status: 'up' } });
    });

    it('/health/ready answers 503 when a migration is missing', async () => {
      const [last] = await db.query<{ id: number; timestamp: string; name: string }>('SELECT * FROM schema_migrations ORDER BY id DESC LIMIT 1');
      await db.query('DELETE FROM schema_migrations WHERE id = $1', [last.id]);
      try {
        const res = await t.request('GET', '/health/ready');
        expect(res.status).toBe(503);
        expect(res.body.code).toBe('service_unavailable');
        expect(res.body.checks.error.migrations.status).toBe('down');
      } finally {
        await db.query('INSERT INTO schema_migrations (id, timestamp, name) VALUES ($1, $2, $3)', [last.id, last.timestamp, last.name]);
      }
    });

    it('/metrics has process metrics and a request-duration histogram by route and status', async () => {
      await t.request('GET', '/v1/admin/clients', { key: admin.key });
      const res = await t.request('GET', '/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(res.text).toContain('process_resident_memory_bytes');
      expect(res.text).toMatch(/http_request_duration_seconds_bucket\{[^}]*method="GET"[^}]*route="\/v1\/admin\/clients"[^}]*status="200"/);
      expect(res.text).toMatch(/http_request_duration_seconds_count\{[^}]*status="401"/);
    });

    it('/docs-json describes the routes and the bearer scheme; /docs serves the UI', async () => {
      const res = await t.request('GET', '/docs-json');
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.paths)).toEqual(
        expect.arrayContaining(['/v1/admin/clients', '/v1/admin/clients/{id}/keys', '/v1/admin/clients/{id}/keys/{keyId}', '/health/ready', '/metrics']),
      );
      expect(res.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect(res.body.components.schemas.CreateClientDto.required).toEqual(expect.arrayContaining(['name', 'scopes']));
      const ui = await t.request('GET', '/docs');
      expect(ui.status).toBe(200);
      expect(ui.text).toContain('swagger');
    });

    it('logs each answer once: request id, method, path without its query, status, time; the Authorization header redacted', async () => {
      const res = await t.request('GET', '/health/live?phone=%2B819012345678', { key: admin.key, headers: { 'x-request-id': 'access-line-1' } });
      expect(res.status).toBe(200);
      await waitFor(async () => t.logs.some((l) => l.includes('access-line-1')), { what: 'the access line' });
      const lines = t.logs.filter((l) => l.includes('access-line-1')).map((l) => JSON.parse(l));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 30,
        msg: 'request completed',
        service: 'otp-verify',
        req: { id: 'access-line-1', method: 'GET', url: '/health/live', headers: { authorization: '[redacted]' } },
        res: { statusCode: 200 },
      });
      expect(typeof lines[0].responseTime).toBe('number');
      expect(JSON.stringify(lines[0])).not.toContain('819012345678');
    });

    it('every answer carries a request id, echoing a valid one given by the caller', async () => {
      const res = await t.request('GET', '/health/live', { headers: { 'x-request-id': 'abc-123' } });
      expect(res.headers.get('x-request-id')).toBe('abc-123');
      const other = await t.request('GET', '/health/live');
      expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    });
  });
});
