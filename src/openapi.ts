import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module';
import { documentProblems, FieldErrorView, ProblemView } from './common/problem-docs';
import { AppConfig } from './config/app-config';
import { WebhookEventView } from './verification/dto/webhook-event.view';

/**
 * The OpenAPI document served at /docs-json, and the one the typed client (packages/client) is generated from.
 *
 * It is OpenAPI 3.1.0: @nestjs/swagger writes 3.0 unless told otherwise, and with 3.1 it turns `nullable` into
 * `type: [..., 'null']`, so every schema is plain JSON Schema 2020-12 (what the validators and openapi-typescript
 * read). The scanner's output is then finished here: error responses from the routes' `@ApiProblem` codes,
 * header parameters merged case-insensitively, request bodies closed to unknown fields (the service refuses
 * them), the result webhook, and an example for every JSON answer.
 */
export function describeApi(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('OTP Verify API')
    .setDescription(
      'SMS one-time-password verification for internal banking and payment services. Errors are application/problem+json (RFC 9457) with a stable `code`. ' +
        'Result webhooks are signed as Standard Webhooks (see `webhooks`).',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API key: otp_<prefix>_<secret>' })
    .build();
  const document = SwaggerModule.createDocument(app, config, { extraModels: [ProblemView, FieldErrorView, WebhookEventView] });
  documentProblems(document);
  for (const operation of operations(document)) mergeHeaderParameters(operation);
  closeRequestSchemas(document);
  const webhook = structuredClone(RESULT_WEBHOOK);
  const body = webhook.post.requestBody.content['application/json'];
  body.example = exampleOf(document, body.schema);
  document.webhooks = { verificationEvent: webhook };
  addResponseExamples(document);
  return document;
}

/** A deployment with a real SMS provider, so without the development inbox (the document the client is made from). */
const DOCUMENTED_DEPLOYMENT = { NODE_ENV: 'development', SMS_PROVIDER: 'http', SMS_HTTP_URL: 'https://sms.invalid/send', LOG_LEVEL: 'silent' };

/**
 * The document of a deployment (by default one with real providers, so without the development inbox), built with
 * no database: Nest's preview mode resolves the modules and their routes but instantiates nothing.
 * `npm run openapi` writes it.
 */
export async function buildOpenApiDocument(env: Record<string, string> = DOCUMENTED_DEPLOYMENT): Promise<OpenAPIObject> {
  const config = AppConfig.fromEnv(env);
  const app = await NestFactory.create(AppModule.forRoot({ config }), new FastifyAdapter(), { preview: true, logger: false, abortOnError: false });
  try {
    return describeApi(app);
  } finally {
    await app.close();
  }
}

// The document is walked as plain JSON (its shape is the OpenAPI specification's, not a type of ours).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

function operations(document: Json): Json[] {
  return Object.values<Json>(document.paths ?? {}).flatMap((item) => METHODS.filter((m) => item[m]).map((m) => item[m] as Json));
}

/**
 * Header names are case-insensitive, but the scanner lists `@Headers('idempotency-key')` and
 * `@ApiHeader({ name: 'Idempotency-Key' })` as two parameters (the first one required). The declared one,
 * listed last, is kept.
 */
function mergeHeaderParameters(operation: Json): void {
  const params: Json[] = operation.parameters ?? [];
  const lastHeader = new Map<string, Json>();
  for (const p of params) if (p.in === 'header') lastHeader.set(String(p.name).toLowerCase(), p);
  operation.parameters = params.filter((p) => p.in !== 'header' || lastHeader.get(String(p.name).toLowerCase()) === p);
}

/** Request bodies with a field the DTO does not declare are refused (400 validation_failed): say so in their schemas. */
function closeRequestSchemas(document: Json): void {
  const schemas: Json = document.components?.schemas ?? {};
  const seen = new Set<string>();
  const close = (schema: Json | undefined): void => {
    if (!schema || typeof schema !== 'object') return;
    if (typeof schema.$ref === 'string') {
      const name = schema.$ref.split('/').pop() as string;
      if (seen.has(name) || !schemas[name]) return;
      seen.add(name);
      close(schemas[name]);
      return;
    }
    if (schema.properties) {
      schema.additionalProperties = false;
      Object.values<Json>(schema.properties).forEach(close);
    }
    close(schema.items);
    for (const key of ['anyOf', 'oneOf', 'allOf']) (schema[key] ?? []).forEach(close);
  };
  for (const operation of operations(document)) close(operation.requestBody?.content?.['application/json']?.schema);
}

const SAMPLE_TIME = '2026-11-24T12:00:00.000Z';

/** An example value made of the schema's own examples, enums and defaults (placeholders where it has none). */
export function exampleOf(document: Json, schema: Json | undefined, depth = 0): unknown {
  if (!schema || depth > 12) return undefined;
  if (typeof schema.$ref === 'string') return exampleOf(document, document.components?.schemas?.[schema.$ref.split('/').pop() as string], depth + 1);
  if (schema.example !== undefined) return schema.example;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  for (const key of ['anyOf', 'oneOf']) {
    const member = (schema[key] as Json[] | undefined)?.find((s) => s.type !== 'null');
    if (member) return exampleOf(document, member, depth + 1);
  }
  if (schema.allOf) return Object.assign({}, ...(schema.allOf as Json[]).map((s) => exampleOf(document, s, depth + 1)));
  if (Array.isArray(schema.enum)) return schema.enum.find((v: unknown) => v !== null);
  if (schema.default !== undefined) return schema.default;
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type;
  if (type === 'object' || schema.properties) {
    return Object.fromEntries(Object.entries<Json>(schema.properties ?? {}).map(([k, s]) => [k, exampleOf(document, s, depth + 1)]));
  }
  if (type === 'array') return [exampleOf(document, schema.items, depth + 1)];
  if (type === 'integer' || type === 'number') return schema.minimum ?? 0;
  if (type === 'boolean') return true;
  if (schema.format === 'date-time') return SAMPLE_TIME;
  return 'string';
}

/** Every JSON answer without an example of its own gets one built from its schema. */
function addResponseExamples(document: Json): void {
  for (const operation of operations(document)) {
    for (const response of Object.values<Json>(operation.responses ?? {})) {
      const media = response.content?.['application/json'];
      if (media?.schema && media.example === undefined && media.examples === undefined) media.example = exampleOf(document, media.schema);
    }
  }
}

/** The result webhook (API.md, Webhooks to the calling service): what the service POSTs to the callback URL. */
const RESULT_WEBHOOK: Json = {
  post: {
    operationId: 'verificationEvent',
    summary: 'A verification result or a delivery receipt, POSTed to the callback URL',
    description:
      'Signed as the Standard Webhooks specification says: verify `webhook-signature` over `<webhook-id>.<webhook-timestamp>.<raw body>` ' +
      "with the client's `whsec_` secret (the client package's `verifyWebhook`, or any official Standard Webhooks library). " +
      'During a secret rotation the header holds two signatures, space-separated. A non-2xx answer or a timeout is retried with ' +
      'exponential backoff; 410 Gone stops deliveries to that URL until an admin enables it again.',
    parameters: [
      { name: 'webhook-id', in: 'header', required: true, description: 'The event id (`evt_…`), the same on every retry: use it to drop duplicates.', schema: { type: 'string', example: 'evt_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' } },
      { name: 'webhook-timestamp', in: 'header', required: true, description: 'Unix seconds of this try.', schema: { type: 'string', pattern: '^[0-9]+$', example: '1795521600' } },
      {
        name: 'webhook-signature',
        in: 'header',
        required: true,
        description: '`v1,<base64 HMAC-SHA256>`, one or two (space-separated).',
        schema: { type: 'string', example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=' },
      },
    ],
    requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/WebhookEvent' } } } },
    responses: {
      '2XX': { description: 'Received; not sent again.' },
      '410': { description: 'Gone: the service stops sending to this URL until an admin enables it again.' },
    },
  },
};
