import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

type Json = Record<string, any>;

const ROOT_ID = 'https://otp-verify.dev/openapi.json';
/** Keywords OpenAPI 3.1 adds to JSON Schema 2020-12 (the OAS dialect); anything else unknown is an error. */
const OAS_KEYWORDS = ['example', 'discriminator', 'xml', 'externalDocs'];

/**
 * Validates values against the schemas of an OpenAPI 3.1 document with ajv's JSON Schema 2020-12 validator, in
 * strict mode: a schema keyword JSON Schema does not know (`nullable`, a 3.0 leftover) fails to compile.
 *
 * `closed`: objects that do not say otherwise get `additionalProperties: false`, so an answer carrying a field
 * the document does not describe fails. The document itself leaves answers open (clients must tolerate new
 * fields); the tests hold the service to describing every field it sends.
 */
export class DocumentSchemas {
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly doc: Json;

  constructor(document: Json, { closed = false }: { closed?: boolean } = {}) {
    this.doc = document;
    this.ajv = new Ajv2020({ strict: true, allErrors: true, strictTypes: false, validateFormats: true });
    addFormats(this.ajv);
    for (const keyword of OAS_KEYWORDS) this.ajv.addKeyword(keyword);
    const defs = structuredClone(document.components?.schemas ?? {});
    if (closed) Object.values<Json>(defs).forEach(close);
    this.ajv.addSchema(rewriteRefs({ $id: ROOT_ID, $defs: defs }));
  }

  /** The errors of `value` against `schema` (a schema of the document, `$ref`s included); empty when it is valid. */
  errors(schema: Json, value: unknown): ErrorObject[] {
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile({ ...rewriteRefs(schema, ROOT_ID), $id: `${ROOT_ID}/schema-${this.compiled.size}` });
      this.compiled.set(key, validate);
    }
    return validate(value) ? [] : (validate.errors ?? []);
  }

  /** Every component schema compiles (throws the first that does not). */
  compileAll(): string[] {
    const names = Object.keys(this.doc.components?.schemas ?? {});
    for (const name of names) this.ajv.getSchema(`${ROOT_ID}#/$defs/${name}`);
    return names;
  }
}

/** `#/components/schemas/X` → `#/$defs/X` (of the root document, or of `base` when given). */
function rewriteRefs(node: any, base = ''): any {
  if (Array.isArray(node)) return node.map((n) => rewriteRefs(n, base));
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/') ? `${base}#/$defs/${v.slice('#/components/schemas/'.length)}` : rewriteRefs(v, base);
  }
  return out;
}

function close(schema: Json): void {
  if (!schema || typeof schema !== 'object') return;
  if (schema.properties && schema.additionalProperties === undefined) schema.additionalProperties = false;
  for (const value of Object.values(schema.properties ?? {})) close(value as Json);
  if (schema.items) close(schema.items);
  for (const key of ['anyOf', 'oneOf', 'allOf']) for (const member of schema[key] ?? []) close(member);
}

export const describeErrors = (errors: ErrorObject[]): string => errors.map((e) => `${e.instancePath || '(root)'} ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`).join('; ');
