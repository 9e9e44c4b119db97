import fc from 'fast-check';
import type { TestApp } from './support/app';
import { postVerification } from './support/scenario';
import { Stack, startStack } from './support/stack';

/**
 * Issue 9, "what it must show": requests generated from the served OpenAPI document (/docs-json), for every
 * operation, with fast-check: bodies built from the schemas with ill-typed, missing and unknown fields, any
 * JSON value, invalid or deeply nested JSON text, strings with NUL, lone surrogates, control characters,
 * credential shapes or huge lengths, odd path ids and query values. Sent with an admin key holding every
 * scope; no answer may be a 5xx.
 *
 * Reproduce a failure with the seed it prints: FUZZ_SEED=<seed> npx jest test/openapi-fuzz.e2e-spec.ts
 * (FUZZ_RUNS sets the requests per operation; FUZZ_VERBOSE=1 prints the answers per operation).
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const RUNS = Number(process.env.FUZZ_RUNS ?? 50);

type Schema = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  spec: Record<string, any>;
}
interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** Strings that broke something once, or could. */
const NASTY = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfff',
  '\ud83d\ude00',
  '\u200b',
  '\u202e',
  '\r\n',
  '\t',
  '%00',
  '../../etc/passwd',
  "'; DROP TABLE verifications; --",
  '{{7*7}}',
  '<script>alert(1)</script>',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  'NaN',
  '-1',
  '1e309',
  '9'.repeat(40),
  'otp_abcdefghijkl_' + 'abcdefghij'.repeat(4),
  'whsec_' + 'c2VjcmV0c2VjcmV0c2VjcmV0',
  'x'.repeat(300),
  'é'.repeat(2000),
  '+819012345678',
  'JP',
  'JPY',
  'https://127.0.0.1:9/hook',
  '2026-11-24T00:00:00.000Z',
];

const nasty = fc.constantFrom(...NASTY);
const anyString = fc.oneof(
  { arbitrary: nasty, weight: 3 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 1 },
  { arbitrary: fc.string({ maxLength: 5000 }), weight: 1 },
);
const anyNumber = fc.oneof(
  fc.integer({ min: -10, max: 10 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, 2 ** 63),
);
const anyJson = fc.jsonValue({ maxDepth: 3 });

/** What a header value may hold (fetch refuses the rest; Node's parser refuses it on a raw socket, see bad-input): visible Latin-1. */
const headerValue = fc.string({ unit: fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff })).map((c) => String.fromCharCode(c)), maxLength: 300 });

/** Text that is not a usable JSON body. */
const badJsonText = fc.oneof(
  fc.constantFrom('', '{', '[', '"', '{"a":}', 'nul', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '\u0000', '1e99999', '{"a":1,"a":2}'),
  fc.integer({ min: 20, max: 3000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.integer({ min: 20, max: 3000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  fc.string({ maxLength: 200 }),
);

function resolve(doc: Schema, schema: Schema | undefined): Schema {
  let s = schema ?? {};
  for (let i = 0; i < 10 && s.$ref; i++) s = doc.components.schemas[String(s.$ref).split('/').pop()!] ?? {};
  if (s.allOf) {
    const parts: Schema[] = s.allOf.map((part: Schema) => resolve(doc, part));
    return parts.reduce((acc, part) => ({ ...acc, ...part, properties: { ...acc.properties, ...part.properties } }), {});
  }
  return s;
}

/** A value for `schema`: usually of the right type and shape, sometimes not at all. */
function valueFor(doc: Schema, schema: Schema | undefined, name: string, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(doc, schema);
  const wrong = depth > 3 ? anyJson : fc.oneof(anyJson, anyString, anyNumber, fc.constant(null), fc.constant([]), fc.constant({}));
  let right: fc.Arbitrary<unknown>;
  if (s.enum) right = fc.oneof(fc.constantFrom(...(s.enum as unknown[])), anyString);
  else if (s.type === 'object' || s.properties) right = objectFor(doc, s, depth + 1);
  else if (s.type === 'array') right = fc.array(valueFor(doc, s.items, `${name}[]`, depth + 1), { maxLength: 6 });
  else if (s.type === 'integer' || s.type === 'number') {
    const min = typeof s.minimum === 'number' ? s.minimum : -100;
    const max = typeof s.maximum === 'number' ? s.maximum : 1000;
    right = fc.oneof(fc.integer({ min: min - 2, max: max + 2 }), anyNumber);
  } else if (s.type === 'boolean') right = fc.boolean();
  else if (s.type === 'string') right = stringFor(s, name);
  else right = anyJson;
  return fc.oneof({ arbitrary: right, weight: 4 }, { arbitrary: wrong, weight: 1 });
}

function stringFor(s: Schema, name: string): fc.Arbitrary<unknown> {
  const options: fc.Arbitrary<string>[] = [anyString];
  if (s.example !== undefined) options.push(fc.constant(String(s.example)));
  if (name === 'phoneNumber') options.push(fc.integer({ min: 0, max: 9_999_999 }).map((n) => `+81901${String(n).padStart(7, '0')}`));
  if (s.pattern) {
    try {
      options.push(fc.stringMatching(new RegExp(s.pattern)));
    } catch {
      // a pattern fast-check cannot generate from
    }
  }
  if (typeof s.maxLength === 'number') options.push(fc.string({ minLength: s.maxLength, maxLength: s.maxLength + 1 }));
  // with a nasty character somewhere in an otherwise plausible value
  const plausible = fc.oneof(...options);
  return fc.oneof(plausible, fc.tuple(plausible, nasty, plausible).map(([a, b, c]) => a + b + c));
}

function objectFor(doc: Schema, s: Schema, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const props: Record<string, Schema> = s.properties ?? {};
  const required = new Set<string>(s.required ?? []);
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, prop] of Object.entries(props)) {
    const value = valueFor(doc, prop, name, depth);
    // required fields are usually there, optional ones half the time
    model[name] = fc.option(value, { nil: undefined, freq: required.has(name) ? 8 : 2 });
  }
  return fc
    .tuple(fc.record(model), fc.option(fc.dictionary(fc.oneof(anyString, fc.constantFrom('__proto__', 'constructor', 'extra')), anyJson, { maxKeys: 2 }), { freq: 4 }))
    .map(([known, extra]) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(extra ?? {})) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      for (const [k, v] of Object.entries(known)) if (v !== undefined) out[k] = v;
      return out;
    });
}

/** A value the schema accepts (examples, enums, patterns, bounds), so a request can get past validation. */
function validFor(doc: Schema, schema: Schema | undefined, name: string, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(doc, schema);
  if (s.enum) return fc.constantFrom(...(s.enum as unknown[]));
  if (s.type === 'object' || s.properties) {
    const required = new Set<string>(s.required ?? []);
    const model: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [prop, propSchema] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
      const value = depth > 3 ? fc.constant(undefined) : validFor(doc, propSchema, prop, depth + 1);
      model[prop] = required.has(prop) ? value : fc.option(value, { nil: undefined, freq: 2 });
    }
    return fc.record(model).map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
  }
  if (s.type === 'array') return fc.array(validFor(doc, s.items, name, depth + 1), { minLength: 1, maxLength: 3 });
  if (s.type === 'integer' || s.type === 'number') return fc.integer({ min: s.minimum ?? 0, max: s.maximum ?? 1000 });
  if (s.type === 'boolean') return fc.boolean();
  if (name === 'phoneNumber') return fc.integer({ min: 0, max: 9_999_999 }).map((n) => `+81901${String(n).padStart(7, '0')}`);
  if (s.example !== undefined) return fc.constant(s.example);
  if (s.pattern) {
    try {
      return fc.stringMatching(new RegExp(s.pattern));
    } catch {
      // a pattern fast-check cannot generate from
    }
  }
  return fc.string({ minLength: 1, maxLength: Math.min(s.maxLength ?? 20, 20) });
}

/** What one field of a valid body is replaced with. */
const replacement = (valid: unknown): fc.Arbitrary<unknown> =>
  fc.oneof(
    nasty,
    anyNumber,
    fc.constantFrom(null, true, [], {}, [valid], { value: valid }),
    fc.tuple(nasty, fc.boolean()).map(([bad, before]) => (typeof valid === 'string' ? (before ? bad + valid : valid + bad) : bad)),
  );

/** The paths of the fields of a value (`['transaction']`, `['transaction', 'payee']`). */
function fieldPaths(value: unknown, prefix: string[] = []): string[][] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...fieldPaths(v, [...prefix, k])]);
}

/** A valid body with exactly one field replaced by a bad value (or one unknown field added). */
function mutatedFor(doc: Schema, schema: Schema): fc.Arbitrary<unknown> {
  return validFor(doc, schema, 'body').chain((valid) => {
    const paths = fieldPaths(valid);
    if (paths.length === 0) return fc.constant(valid);
    return fc.constantFrom(...paths).chain((path) => {
      const at = (root: any) => path.slice(0, -1).reduce((o, k) => o[k], root) as Record<string, unknown>;
      const last = path[path.length - 1];
      const set = (value: unknown, add: boolean) => {
        const out = structuredClone(valid);
        at(out)[add ? `${last}_extra` : last] = value;
        return out;
      };
      return fc.oneof(
        { arbitrary: replacement(at(valid)[last]).map((v) => set(v, false)), weight: 4 },
        { arbitrary: anyString.map((v) => set(v, true)), weight: 1 },
      );
    });
  });
}

/** Percent-encodes every byte of the UTF-8 form but unreserved characters (a lone surrogate becomes U+FFFD). */
function encodeSegment(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function requestFor(doc: Schema, op: Operation, realIds: string[], key: string): fc.Arbitrary<FuzzRequest> {
  const params: Schema[] = (op.spec.parameters ?? []).map((p: Schema) => resolve(doc, p));
  const pathNames = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  // a path id: a real one, a plausible one, or something no id looks like (sent raw or encoded)
  const pathValue = fc.oneof(
    { arbitrary: fc.constantFrom(...realIds).map(encodeSegment), weight: 3 },
    { arbitrary: anyString.map(encodeSegment), weight: 3 },
    { arbitrary: fc.constantFrom('%00', 'vrf_%00', 'vrf_%ED%A0%80', '%FF', '%C0%AF', '%2F', '%2e%2e', '..', '%', '%zz', ';', 'a'.repeat(101), 'vrf_' + 'A'.repeat(400)), weight: 2 },
  );
  const query = params.filter((p) => p.in === 'query');
  // the query parameters as an object schema: valid, valid with one of them bad, or anything the schemas suggest
  const querySchema = { type: 'object', properties: Object.fromEntries(query.map((p) => [p.name, p.schema])), required: query.filter((p) => p.required).map((p) => p.name) };
  const queryValues: fc.Arbitrary<unknown> =
    query.length === 0
      ? fc.constant({})
      : fc.oneof(
          { arbitrary: validFor(doc, querySchema, 'query'), weight: 3 },
          { arbitrary: mutatedFor(doc, querySchema), weight: 3 },
          { arbitrary: valueFor(doc, querySchema, 'query'), weight: 1 },
        );
  const extraQuery = fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 3 },
    { arbitrary: fc.constantFrom('%00=%00', 'limit=1&limit=2', 'type=a.b&type=c.d', 'cursor[]=x', 'limit=1e999', '__proto__=1', 'x=%ED%A0%80', '&&&=', 'format=xml'), weight: 1 },
  );
  const headerParams = params.filter((p) => p.in === 'header');
  const headerModel: Record<string, fc.Arbitrary<unknown>> = {};
  for (const p of headerParams) {
    const odd = fc.constantFrom('', 'x'.repeat(256), 'k-' + 'otp_abcdefghijkl_' + 'abcdefghij'.repeat(4));
    headerModel[p.name] = fc.option(fc.oneof({ arbitrary: headerValue, weight: 4 }, { arbitrary: odd, weight: 1 }), { nil: undefined, freq: 2 });
  }
  const bodySchema = op.spec.requestBody?.content?.['application/json']?.schema;
  const sendsBody = op.method !== 'GET' && op.method !== 'HEAD';
  const body: fc.Arbitrary<{ text?: string; type?: string }> = !sendsBody
    ? fc.constant({})
    : fc.oneof(
        { arbitrary: bodySchema ? validFor(doc, bodySchema, 'body').map((v) => ({ text: JSON.stringify(v) })) : fc.constant({}), weight: 2 },
        { arbitrary: bodySchema ? mutatedFor(doc, bodySchema).map((v) => ({ text: JSON.stringify(v) })) : fc.constant({}), weight: 4 },
        { arbitrary: bodySchema ? valueFor(doc, bodySchema, 'body').map((v) => ({ text: JSON.stringify(v) })) : fc.constant({}), weight: 1 },
        { arbitrary: anyJson.map((v) => ({ text: JSON.stringify(v) })), weight: 1 },
        { arbitrary: badJsonText.map((text) => ({ text })), weight: 1 },
        { arbitrary: fc.tuple(fc.constantFrom('application/x-www-form-urlencoded', 'text/plain', 'application/json; charset=latin1', 'multipart/form-data'), fc.string({ maxLength: 100 })).map(([type, text]) => ({ type, text: text + '&reference=%00' })), weight: 1 },
      );

  return fc.record({ ids: fc.tuple(...pathNames.map(() => pathValue)), query: queryValues, extraQuery, headers: fc.record(headerModel), body }).map((r) => {
    let path = op.path;
    pathNames.forEach((name, i) => (path = path.replace(`{${name}}`, r.ids[i])));
    const search = new URLSearchParams();
    const queryObject = r.query && typeof r.query === 'object' && !Array.isArray(r.query) ? (r.query as Record<string, unknown>) : { q: r.query };
    for (const [k, v] of Object.entries(queryObject)) if (v !== undefined) search.append(k, typeof v === 'string' ? v : JSON.stringify(v));
    const qs = [search.toString(), r.extraQuery ?? ''].filter(Boolean).join('&');
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    if (r.body.text !== undefined) headers['content-type'] = r.body.type ?? 'application/json';
    return { method: op.method, path: qs ? `${path}?${qs}` : path, headers, body: r.body.text };
  });
}

/** A stable seed per operation, so adding an operation does not change the requests of the others. */
function seedFor(op: Operation): number {
  let h = SEED | 0;
  for (const c of `${op.method} ${op.path}`) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0;
  return h;
}

const show = (s: string | undefined, max = 400) => (s === undefined ? undefined : s.length > max ? `${JSON.stringify(s.slice(0, max))}… (${s.length} chars)` : JSON.stringify(s));

describe('OpenAPI-driven fuzzing: no request answers 5xx', () => {
  let stack: Stack;
  let t: TestApp;
  let key: string;
  let realIds: string[];
  let operations: Operation[];
  let doc: Schema;

  beforeAll(async () => {
    stack = await startStack({ env: { THROTTLE_LIMIT: '1000000', WEBHOOK_TIMEOUT_MS: '500' } });
    t = stack.t;
    ({ key } = await t.createClient());
    // real ids, so some requests reach real rows: a verification, and another client and its key (never our own key)
    const other = await t.createClient(['verifications:write']);
    const { id } = await postVerification(t, key);
    realIds = [id, other.clientId, other.keyId];
    const res = await t.request('GET', '/docs-json');
    expect(res.status).toBe(200);
    doc = res.body;
    operations = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
        .map(([method, spec]) => ({ method: method.toUpperCase(), path, spec })),
    );
  });
  afterAll(async () => stack?.close());

  it('covers the API routes', () => {
    const names = operations.map((o) => `${o.method} ${o.path}`);
    expect(names).toEqual(
      expect.arrayContaining(['POST /v1/verifications', 'GET /v1/verifications/{id}', 'POST /v1/verifications/{id}/check', 'GET /v1/admin/audit-events', 'DELETE /v1/admin/clients/{id}/keys/{keyId}']),
    );
  });

  it(`every operation, ${RUNS} generated requests each (seed ${SEED})`, async () => {
    const failures: string[] = [];
    let sent = 0;
    let unsendable = 0;
    const statuses = new Map<number, number>();
    const perOperation: string[] = [];
    for (const op of operations) {
      const seed = seedFor(op);
      const opStatuses = new Map<number, number>();
      const requests = fc.sample(requestFor(doc, op, realIds, key), { seed, numRuns: RUNS });
      for (const [i, req] of requests.entries()) {
        let status: number;
        let text: string;
        try {
          const res = await fetch(t.url + req.path, { method: req.method, headers: req.headers, body: req.body });
          status = res.status;
          text = await res.text();
        } catch (err) {
          // a request fetch refuses to send is not an answer of the server; a connection that fails is a failure
          const cause = (err as Error & { cause?: { code?: string } }).cause;
          if (err instanceof TypeError && (!/fetch failed/.test(err.message) || cause?.code === 'UND_ERR_INVALID_ARG')) {
            unsendable++;
            continue;
          }
          status = 0;
          text = String(cause ?? err);
        }
        sent++;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        opStatuses.set(status, (opStatuses.get(status) ?? 0) + 1);
        if (status >= 500 || status === 0) {
          failures.push(
            [
              `${op.method} ${op.path} (seed ${seed}, sample ${i}) answered ${status || 'nothing'}: ${show(text, 300)}`,
              `  request: ${req.method} ${show(req.path, 300)}`,
              `  headers: ${JSON.stringify({ ...req.headers, authorization: '[admin key]' })}`,
              `  body: ${show(req.body)}`,
            ].join('\n'),
          );
        }
      }
      perOperation.push(`${op.method} ${op.path}: ${[...opStatuses].sort(([a], [b]) => a - b).map(([st, n]) => `${st}×${n}`).join(' ')}`);
    }
    if (process.env.FUZZ_VERBOSE) console.log(`answers per operation (seed ${SEED}, ${RUNS} runs):\n${perOperation.join('\n')}`);
    if (failures.length > 0) {
      throw new Error(`${failures.length} of ${sent} requests answered 5xx or nothing (FUZZ_SEED=${SEED}):\n\n${failures.join('\n\n')}`);
    }
    // nearly every generated request is sent, and some get past validation, not only 4xx
    expect(unsendable).toBeLessThan(sent * 0.05);
    expect([...statuses.entries()].filter(([s]) => s >= 200 && s < 300).reduce((n, [, c]) => n + c, 0)).toBeGreaterThan(operations.length);
    // RUNS requests for each of 30-odd operations, one after the other: about a minute on a busy CI machine.
  }, 180_000);
});
