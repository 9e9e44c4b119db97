import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { PROBLEM_CATALOGUE, PROBLEM_CODES } from '../src/common/problem-docs';
import { problemBody } from '../src/common/problem.filter';
import { buildOpenApiDocument } from '../src/openapi';
import { describeErrors, DocumentSchemas } from './support/openapi';
import { ROOT } from './support/process';

/**
 * Issue 12 item 3: an OpenAPI document worth generating from. Built as `npm run openapi` builds it (no
 * database), checked against the OpenAPI 3.1 schema by a maintained validator, its schemas compiled as
 * JSON Schema 2020-12 in strict mode, and its examples validated against its schemas.
 */
type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/** The problem codes of API.md and the operations that must document them. */
const API_MD_CODES: Record<string, string[]> = {
  validation_failed: ['startVerification', 'checkVerification', 'createClient', 'updateClientPolicy', 'addBlocklistEntry', 'listAuditEvents'],
  invalid_phone_number: ['startVerification'],
  unsupported_number_type: ['startVerification'],
  risk_denied: ['startVerification'],
  rate_limited: ['startVerification', 'getVerification', 'resendVerification', 'cancelVerification', 'checkVerification', 'listClients'],
  idempotency_key_reused: ['startVerification'],
  resend_too_soon: ['resendVerification'],
  max_sends_reached: ['resendVerification'],
  verification_not_pending: ['resendVerification', 'cancelVerification', 'checkVerification'],
  unauthorized: ['startVerification', 'getVerification', 'checkVerification', 'listAuditEvents', 'createClient'],
  forbidden: ['startVerification', 'getVerification', 'checkVerification', 'listAuditEvents', 'createClient'],
  not_found: ['getVerification', 'resendVerification', 'cancelVerification', 'checkVerification', 'getClient', 'revokeApiKey', 'removeBlocklistEntry'],
  payload_too_large: ['startVerification', 'checkVerification'],
};

function operations(doc: Json): Array<{ method: string; path: string; op: Json }> {
  return Object.entries<Json>(doc.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((method) => ({ method, path, op: item[method] })));
}

/** code → the operationIds whose responses list it (by their example references). */
function documentedCodes(doc: Json): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const { op } of operations(doc)) {
    for (const response of Object.values<Json>(op.responses)) {
      for (const ref of Object.values<Json>(response.content?.['application/problem+json']?.examples ?? {})) {
        const code = String(ref.$ref).split('/').pop() as string;
        out.set(code, (out.get(code) ?? new Set()).add(op.operationId));
      }
    }
  }
  return out;
}

/** Every source file of the service. */
function sourceFiles(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.spec.ts') ? [path] : [];
  });
}

describe('the OpenAPI document', () => {
  let doc: Json;
  beforeAll(async () => {
    doc = await buildOpenApiDocument();
  });

  it('is OpenAPI 3.1.0 and valid against the OpenAPI 3.1 schema (@seriousme/openapi-schema-validator)', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(validator.version).toBe('3.1');
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('has schemas that are plain JSON Schema 2020-12: they compile in ajv strict mode, with no 3.0 keyword such as nullable', () => {
    expect(JSON.stringify(doc)).not.toContain('"nullable"');
    const names = new DocumentSchemas(doc).compileAll();
    expect(names).toEqual(expect.arrayContaining(['VerificationView', 'StartVerificationDto', 'Problem', 'WebhookEvent']));
    // and strict mode does refuse a keyword JSON Schema does not know, so the compile above proves something
    const broken = structuredClone(doc);
    broken.components.schemas.VerificationView.properties.reference = { type: 'string', maxLenght: 128 };
    expect(() => new DocumentSchemas(broken).compileAll()).toThrow(/maxLenght/);
  });

  it('gives every operation a camelCase operationId, a summary, its answers and a default problem answer', () => {
    const ids = operations(doc).map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { method, path, op } of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      expect([where, op.operationId]).toEqual([where, expect.stringMatching(/^[a-z][A-Za-z]+$/)]);
      expect([where, typeof op.summary]).toEqual([where, 'string']);
      const statuses = Object.keys(op.responses);
      expect([where, statuses.some((s) => /^2\d\d$/.test(s))]).toEqual([where, true]);
      expect([where, op.responses.default?.content?.['application/problem+json']?.schema]).toEqual([where, { $ref: '#/components/schemas/Problem' }]);
      for (const [status, response] of Object.entries<Json>(op.responses)) {
        if (/^2\d\d$/.test(status)) {
          // every success answer has a schema and an example
          const [media] = Object.values<Json>(response.content ?? {});
          expect([where, status, !!media?.schema, media?.example !== undefined || media?.examples !== undefined]).toEqual([where, status, true, true]);
        } else {
          // every error answer is problem+json with one example per code, and only that
          expect([where, status, Object.keys(response.content ?? {})]).toEqual([where, status, ['application/problem+json']]);
          expect([where, status, Object.keys(response.content['application/problem+json'].examples ?? {}).length > 0]).toEqual([where, status, true]);
        }
      }
    }
    // authenticated operations document 401, 403, 429 and 503
    for (const { method, path, op } of operations(doc).filter(({ op }) => op.security)) {
      expect([`${method} ${path}`, Object.keys(op.responses)]).toEqual([`${method} ${path}`, expect.arrayContaining(['401', '403', '429', '503'])]);
    }
  });

  it("documents every problem code of API.md on the operations that answer it, and every code the service throws somewhere", () => {
    const documented = documentedCodes(doc);
    for (const [code, operationIds] of Object.entries(API_MD_CODES)) {
      expect([code, [...(documented.get(code) ?? [])]]).toEqual([code, expect.arrayContaining(operationIds)]);
    }
    // every code a ProblemException is made with in src/ (and the Problems helpers' codes) is in the catalogue and documented
    const thrown = new Set(['validation_failed', 'unauthorized', 'forbidden', 'not_found']);
    for (const file of sourceFiles()) {
      for (const m of readFileSync(file, 'utf8').matchAll(/ProblemException\(\s*\d{3},\s*'([a-z_]+)'/g)) thrown.add(m[1]);
    }
    expect(thrown.size).toBeGreaterThan(15);
    for (const code of thrown) {
      expect([code, PROBLEM_CODES.includes(code as never)]).toEqual([code, true]);
      expect([code, documented.has(code)]).toEqual([code, true]);
    }
  });

  it('has examples that validate against their schemas, with no placeholder left', () => {
    const schemas = new DocumentSchemas(doc, { closed: true });
    const checked: string[] = [];
    const check = (where: string, schema: Json, value: unknown) => {
      const errors = schemas.errors(schema, value);
      expect([where, describeErrors(errors)]).toEqual([where, '']);
      expect([where, JSON.stringify(value)]).toEqual([where, expect.not.stringContaining('"string"')]);
      checked.push(where);
    };
    for (const { method, path, op } of operations(doc)) {
      for (const [status, response] of Object.entries<Json>(op.responses)) {
        for (const [type, media] of Object.entries<Json>(response.content ?? {})) {
          if (media.example !== undefined) check(`${method} ${path} ${status} ${type}`, media.schema, media.example);
        }
      }
    }
    for (const [code, example] of Object.entries<Json>(doc.components.examples)) check(`problem ${code}`, { $ref: '#/components/schemas/Problem' }, example.value);
    const webhook = doc.webhooks.verificationEvent.post.requestBody.content['application/json'];
    check('webhook', webhook.schema, webhook.example);
    expect(checked.length).toBeGreaterThan(40);
    // a wrong example is caught
    expect(schemas.errors({ $ref: '#/components/schemas/VerificationView' }, { ...doc.paths['/v1/verifications/{id}'].get.responses['200'].content['application/json'].example, status: 'done' })).not.toEqual([]);
  });

  it('lists the Idempotency-Key header once, optional, 1 to 255 characters', () => {
    const headers = doc.paths['/v1/verifications'].post.parameters.filter((p: Json) => p.in === 'header');
    expect(headers).toEqual([expect.objectContaining({ name: 'Idempotency-Key', required: false, schema: expect.objectContaining({ type: 'string', minLength: 1, maxLength: 255 }) })]);
  });

  it('answers GET /v1/admin/clients as { items }, as the service does', () => {
    const schema = doc.paths['/v1/admin/clients'].get.responses['200'].content['application/json'].schema;
    const listed = doc.components.schemas[schema.$ref.split('/').pop()];
    expect(listed).toMatchObject({ type: 'object', required: ['items'], properties: { items: { type: 'array', items: { $ref: '#/components/schemas/ApiClientView' } } } });
  });

  it('states the constraints of the fields as schema keywords', () => {
    const s = doc.components.schemas;
    expect(s.StartVerificationDto.required).toEqual(['phoneNumber', 'purpose']);
    expect(s.StartVerificationDto.additionalProperties).toBe(false);
    expect(s.StartVerificationDto.properties).toMatchObject({
      phoneNumber: { type: 'string', maxLength: 32 },
      country: { pattern: '^[A-Za-z]{2}$' },
      channel: { enum: ['sms', 'voice'], default: 'sms' },
      purpose: { pattern: '^[a-z0-9_.-]{1,64}$' },
      locale: { enum: ['ja', 'en'], default: 'ja' },
      codeLength: { type: 'integer', minimum: 4, maximum: 10, default: 6 },
      ttlSeconds: { type: 'integer', minimum: 60, maximum: 1800, default: 300 },
      reference: { maxLength: 128 },
      callbackUrl: { format: 'uri', maxLength: 2048 },
    });
    expect(s.TransactionDto.properties).toMatchObject({ amount: { pattern: '^\\d{1,15}(\\.\\d{1,4})?$' }, currency: { pattern: '^[A-Za-z]{3}$' }, payee: { minLength: 1, maxLength: 100 } });
    expect(s.CheckVerificationDto.properties.code).toMatchObject({ pattern: '^\\d{4,10}$' });
    expect(s.CreateClientDto.properties).toMatchObject({ name: { pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$' }, scopes: { minItems: 1 }, maxCheckAttempts: { type: 'integer', minimum: 1, maximum: 20 } });
    expect(s.UpdateClientPolicyDto.properties).toMatchObject({
      maxCheckAttempts: { type: ['integer', 'null'], minimum: 1, maximum: 20 },
      requestsPerMinute: { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000 },
      countries: { type: ['array', 'null'], maxItems: 300, items: { pattern: '^[A-Za-z]{2}$' } },
    });
    expect(s.CreateBlocklistEntryDto.properties).toMatchObject({ reason: { minLength: 1, maxLength: 200 }, prefix: { pattern: '^\\+[1-9]\\d{1,14}$' } });
    const limit = doc.paths['/v1/admin/audit-events'].get.parameters.find((p: Json) => p.name === 'limit');
    expect(limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 500, default: 100 });
    const id = doc.paths['/v1/verifications/{id}'].get.parameters.find((p: Json) => p.name === 'id');
    expect(id.schema).toMatchObject({ type: 'string', pattern: '^[A-Za-z0-9_-]{1,100}$', maxLength: 100 });
    // every pattern is a JavaScript regular expression that accepts its own example
    for (const [name, schema] of Object.entries<Json>(s)) {
      for (const [prop, p] of Object.entries<Json>(schema.properties ?? {})) {
        if (p.pattern && typeof p.example === 'string') expect([name, prop, new RegExp(p.pattern).test(p.example)]).toEqual([name, prop, true]);
      }
    }
  });

  it('documents the result webhook (OpenAPI 3.1 webhooks) with its Standard Webhooks headers', () => {
    const post = doc.webhooks.verificationEvent.post;
    expect(post.parameters.map((p: Json) => p.name)).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    expect(doc.components.schemas.WebhookEvent.properties.type.enum).toEqual(expect.arrayContaining(['verification.approved', 'message.delivered']));
  });

  it('is the same with the development inbox (console provider), plus its one operation, valid as well', async () => {
    const dev: Json = await buildOpenApiDocument({ NODE_ENV: 'development', SMS_PROVIDER: 'console', LOG_LEVEL: 'silent' });
    const ids = (d: Json) => operations(d).map(({ op }) => op.operationId);
    expect(ids(dev).filter((id) => !ids(doc).includes(id))).toEqual(['listDevMessages']);
    const validator = new Validator();
    expect(await validator.validate(structuredClone(dev))).toEqual({ valid: true });
    const list = dev.paths['/v1/dev/messages'].get;
    const schemas = new DocumentSchemas(dev, { closed: true });
    const ok = list.responses['200'].content['application/json'];
    expect(describeErrors(schemas.errors(ok.schema, ok.example))).toBe('');
    expect(Object.keys(list.responses)).toEqual(expect.arrayContaining(['400', '401', '403']));
  });

  it('has a catalogue whose example bodies are what the problem filter writes for their status', () => {
    for (const code of PROBLEM_CODES) {
      const entry = PROBLEM_CATALOGUE[code];
      const body = problemBody(entry.example);
      expect([code, body.status, body.code]).toEqual([code, entry.status, code]);
      expect(doc.components.examples[code]?.value ?? body).toEqual(body);
    }
  });
});
