import { createHash } from 'node:crypto';
import { applyDecorators } from '@nestjs/common';
import { ApiExtension, ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { ProblemException } from './problem';
import { problemBody } from './problem.filter';

/**
 * How the OpenAPI document describes errors. Every error is application/problem+json (RFC 9457) with a stable
 * `code`; a route lists the codes it can answer with `@ApiProblem(code, when)` (the auth decorator adds the ones
 * every authenticated route has). The decorator only records the code on the operation, as an `x-problem-…`
 * extension: `documentProblems()` turns them into one response per status, with the Problem schema and one
 * example per code built by the real `problemBody()`, so the examples cannot drift from what the filter writes.
 * Recording first and building at the end keeps decorator order, and class- or method-level use, irrelevant.
 */

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

interface ProblemEntry {
  status: number;
  /** Used when the route gives no `when` of its own. */
  summary: string;
  example: ProblemException;
  /** Response headers the answer carries. */
  headers?: Record<string, { description: string; schema: Record<string, unknown> }>;
}

const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } } };

/** Every code the service answers with (API.md's and the service's own), with an example of its body. */
export const PROBLEM_CATALOGUE = {
  validation_failed: {
    status: 400,
    summary: 'A field, query parameter or header is invalid, unknown, or the body is not JSON; nothing changed.',
    example: new ProblemException(400, 'validation_failed', 'One or more fields are invalid.', { errors: [{ field: 'purpose', message: 'purpose must be 1-64 characters of a-z 0-9 _ . -' }] }),
  },
  invalid_phone_number: {
    status: 400,
    summary: 'The phone number cannot be parsed as a number (E.164, or national form with `country`).',
    example: new ProblemException(400, 'invalid_phone_number', 'phoneNumber is not a valid phone number.', { errors: [{ field: 'phoneNumber', message: 'phoneNumber is not a valid phone number' }] }),
  },
  unsupported_number_type: {
    status: 400,
    summary: 'No number of this type can receive the channel (a fixed line takes no SMS).',
    example: new ProblemException(400, 'unsupported_number_type', 'A fixed line number cannot receive SMS.', { numberType: 'fixed_line' }),
  },
  bad_request: {
    status: 400,
    summary: 'The URL is malformed (a path segment that is not percent-encoded UTF-8).',
    example: new ProblemException(400, 'bad_request', 'The URL is not valid: a path segment is not correctly percent-encoded UTF-8.'),
  },
  unauthorized: {
    status: 401,
    summary: 'The API key is missing, unknown or revoked.',
    example: new ProblemException(401, 'unauthorized', 'A valid API key is required: Authorization: Bearer <api key>.'),
    headers: { 'WWW-Authenticate': { description: '`Bearer`', schema: { type: 'string', example: 'Bearer' } } },
  },
  forbidden: {
    status: 403,
    summary: 'The API key lacks the scope the route needs.',
    example: new ProblemException(403, 'forbidden', 'This API key lacks the scope verifications:write.'),
  },
  risk_denied: {
    status: 403,
    summary: 'Screening refused the number; `reasons` says why. Nothing was sent.',
    example: new ProblemException(403, 'risk_denied', 'Screening refused this phone number.', { reasons: ['blocklisted'] }),
  },
  not_found: {
    status: 404,
    summary: "No such resource, or another client's (the same answer), or an id that no id looks like.",
    example: new ProblemException(404, 'not_found', 'No verification vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F.'),
  },
  verification_not_pending: {
    status: 409,
    summary: 'The verification is final (approved, expired, locked, canceled, denied, failed); `verificationStatus` says which.',
    example: new ProblemException(409, 'verification_not_pending', 'The verification is approved; only pending verifications can change.', { verificationStatus: 'approved' }),
  },
  idempotency_key_reused: {
    status: 409,
    summary: 'This Idempotency-Key came with another body in the last 24 hours.',
    example: new ProblemException(409, 'idempotency_key_reused', 'This Idempotency-Key was used with another request body in the last 24 hours.'),
  },
  idempotency_key_in_use: {
    status: 409,
    summary: 'A request with this Idempotency-Key is still being processed; retry shortly.',
    example: new ProblemException(409, 'idempotency_key_in_use', 'A request with this Idempotency-Key is still being processed; retry shortly.'),
  },
  client_name_taken: {
    status: 409,
    summary: 'A client of that name exists.',
    example: new ProblemException(409, 'client_name_taken', 'A client named "payments" already exists.'),
  },
  conflict: {
    status: 409,
    summary: 'The request conflicts with the current state.',
    example: new ProblemException(409, 'conflict', 'This number is already on the blocklist.'),
  },
  payload_too_large: {
    status: 413,
    summary: 'The body is over 16 KiB.',
    example: new ProblemException(413, 'payload_too_large', 'The request body exceeds the 16 KiB limit.'),
  },
  unsupported_media_type: {
    status: 415,
    summary: 'The body is not application/json.',
    example: new ProblemException(415, 'unsupported_media_type', 'Send the body as application/json.'),
  },
  rate_limited: {
    status: 429,
    summary: "The client's request limit, or the limit on failed authentication per IP address (an IPv6 address by its /64); `limit` says which.",
    example: new ProblemException(429, 'rate_limited', 'Request limit for this API client reached: 100 requests per 60 s. Retry after 12 s.', { limit: 'client_requests' }),
    headers: RETRY_AFTER,
  },
  resend_too_soon: {
    status: 429,
    summary: 'Before `resendAvailableAt`.',
    example: new ProblemException(429, 'resend_too_soon', 'A new code can be sent at 2026-11-24T12:01:00.000Z.', { resendAvailableAt: '2026-11-24T12:01:00.000Z' }),
    headers: RETRY_AFTER,
  },
  max_sends_reached: {
    status: 429,
    summary: '`sendsRemaining` is 0: start a new verification.',
    example: new ProblemException(429, 'max_sends_reached', 'This verification has sent its 5 codes; start a new one.'),
  },
  method_not_allowed: {
    status: 405,
    summary: 'The path exists, not with this method.',
    example: new ProblemException(405, 'method_not_allowed', 'Method not allowed.'),
  },
  request_timeout: {
    status: 408,
    summary: 'The request was not received in time.',
    example: new ProblemException(408, 'request_timeout', 'The request was not received in time.'),
  },
  uri_too_long: {
    status: 414,
    summary: 'A path segment is longer than 100 characters.',
    example: new ProblemException(414, 'uri_too_long', 'A path segment of the URL is longer than 100 characters.'),
  },
  headers_too_large: {
    status: 431,
    summary: 'The request line and headers are larger than the server accepts.',
    example: new ProblemException(431, 'headers_too_large', 'The request line and headers are larger than the server accepts.'),
  },
  internal_error: {
    status: 500,
    summary: 'An unexpected error; the detail quotes a request id for the operators and nothing else.',
    example: new ProblemException(500, 'internal_error', 'An unexpected error occurred. Quote request id 6f1c0f3e-2f7b-4b1e-9d51-0a3a5c1e7d42 to the operators.'),
  },
  service_unavailable: {
    status: 503,
    summary: 'The database is unavailable or did not answer in time, this instance is shutting down, or the request was rolled back by a conflict with concurrent requests (a deadlock, Retry-After: 1); nothing of it was kept: retry after Retry-After.',
    example: new ProblemException(503, 'service_unavailable', 'The database is unavailable or did not answer in time. Retry after the time in Retry-After (a start with the same Idempotency-Key).'),
    headers: RETRY_AFTER,
  },
} satisfies Record<string, ProblemEntry>;

export type ProblemCode = keyof typeof PROBLEM_CATALOGUE;
export const PROBLEM_CODES = Object.keys(PROBLEM_CATALOGUE) as ProblemCode[];

@ApiSchema({ name: 'FieldError' })
export class FieldErrorView {
  @ApiProperty({ example: 'phoneNumber', description: 'The field, dotted for nested ones (`transaction.amount`), or a header name.' }) field!: string;
  @ApiProperty({ example: 'phoneNumber must be a string' }) message!: string;
}

/** The problem+json body. Members past `instance` appear only with the codes named in their description. */
@ApiSchema({ name: 'Problem' })
export class ProblemView {
  @ApiProperty({ format: 'uri', example: 'https://otp-verify.dev/problems/validation-failed', description: 'A URI per code.' }) type!: string;
  @ApiProperty({ example: 'The request is not valid', description: 'Fixed per code.' }) title!: string;
  @ApiProperty({ type: 'integer', minimum: 400, maximum: 599, example: 400 }) status!: number;
  @ApiProperty({ enum: PROBLEM_CODES, example: 'validation_failed', description: 'Stable and machine-readable: branch on this.' }) code!: ProblemCode;
  @ApiPropertyOptional({ example: 'One or more fields are invalid.', description: 'This case, for people; never parse it.' }) detail?: string;
  @ApiPropertyOptional({ format: 'uri-reference' }) instance?: string;
  @ApiPropertyOptional({ type: [FieldErrorView], description: '`validation_failed`, `invalid_phone_number`: the fields at fault.' }) errors?: FieldErrorView[];
  @ApiPropertyOptional({ type: [String], example: ['blocklisted'], description: '`risk_denied`: the screening reasons (API.md, Risk screening).' }) reasons?: string[];
  @ApiPropertyOptional({
    enum: ['screening', 'pending', 'approved', 'expired', 'locked', 'canceled', 'denied', 'failed'],
    example: 'approved',
    description: '`verification_not_pending`: the status the verification has.',
  })
  verificationStatus?: string;
  @ApiPropertyOptional({
    example: 'client_requests',
    description: '`rate_limited`: which limit (`client_requests`, `auth_failures`, `phone_sends_15m`, `phone_sends_24h`, `phone_check_failures`…).',
  })
  limit?: string;
  @ApiPropertyOptional({ format: 'date-time', example: '2026-11-24T12:01:00.000Z', description: '`resend_too_soon`: when a new code can be sent.' })
  resendAvailableAt?: string;
  @ApiPropertyOptional({ example: 'fixed_line', description: '`unsupported_number_type`: the type of the number given.' }) numberType?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: '`service_unavailable` from the readiness check: what is down.' })
  checks?: Record<string, unknown>;
}


const EXTENSION_PREFIX = 'x-problem-';

/**
 * The route may answer with this problem code; `when` says in which case (else the catalogue's summary).
 * On a controller class it applies to every route of the class. Use it once per (code, case).
 */
export function ApiProblem(code: ProblemCode, when?: string): MethodDecorator & ClassDecorator {
  // One extension key per (code, case): neither overrides another, at class or method level.
  const id = createHash('sha256').update(`${code}\n${when ?? ''}`).digest('hex').slice(0, 8);
  return ApiExtension(`${EXTENSION_PREFIX}${code}-${id}`, { code, when: when ?? null });
}

/** The codes every route with a JSON body can answer before its handler runs; `when` describes its 400. */
export const ApiBodyProblems = (when = 'A field is missing, invalid or unknown, or the body is not a JSON object; nothing changed.') =>
  applyDecorators(ApiProblem('validation_failed', when), ApiProblem('payload_too_large'), ApiProblem('unsupported_media_type'));

// The document is walked as plain JSON (its shape is the OpenAPI specification's, not a type of ours).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** What the `default` answer of every operation stands for. */
const DEFAULT_CODES: ProblemCode[] = ['internal_error', 'method_not_allowed', 'request_timeout', 'uri_too_long', 'headers_too_large'];

function exampleBody(code: ProblemCode): Json {
  return problemBody(PROBLEM_CATALOGUE[code].example);
}

/**
 * Turns the recorded `x-problem-…` extensions of every operation into its error responses (one per status, with
 * an example per code), and gives every operation a `default` response for what no route lists (500
 * `internal_error`, and the router's own refusals: 405, 408, 414, 431). Answers the document, changed in place.
 */
export function documentProblems(document: Json): Json {
  const used = new Set<ProblemCode>();
  for (const item of Object.values<Json>(document.paths ?? {})) {
    for (const operation of Object.values<Json>(item)) {
      if (!operation || typeof operation !== 'object' || !operation.responses) continue;
      const byStatus = new Map<number, Array<{ code: ProblemCode; when: string | null }>>();
      for (const key of Object.keys(operation)) {
        if (!key.startsWith(EXTENSION_PREFIX)) continue;
        const { code, when } = operation[key] as { code: ProblemCode; when: string | null };
        delete operation[key];
        const status = PROBLEM_CATALOGUE[code].status;
        byStatus.set(status, [...(byStatus.get(status) ?? []), { code, when }]);
      }
      for (const [status, uses] of [...byStatus].sort(([a], [b]) => a - b)) {
        const codes = [...new Set(uses.map((u) => u.code))].sort((a, b) => PROBLEM_CODES.indexOf(a) - PROBLEM_CODES.indexOf(b));
        const lines = codes.flatMap((code) => uses.filter((u) => u.code === code).map((u) => `- \`${code}\`: ${u.when ?? PROBLEM_CATALOGUE[code].summary}`));
        const headers = Object.assign({}, ...codes.map((code) => (PROBLEM_CATALOGUE[code] as ProblemEntry).headers ?? {}));
        operation.responses[String(status)] = problemResponse(lines.join('\n'), codes, headers);
        codes.forEach(used.add, used);
      }
      operation.responses.default = problemResponse(
        'Any other error, as problem+json: `internal_error` (500), and what the router refuses before any route runs ' +
          '(405 `method_not_allowed`, 408 `request_timeout`, 414 `uri_too_long`, 431 `headers_too_large`).',
        DEFAULT_CODES,
        {},
      );
      DEFAULT_CODES.forEach(used.add, used);
    }
  }
  // One example per code, referenced by every response that lists it.
  const examples: Json = (document.components ??= {}).examples ??= {};
  for (const code of PROBLEM_CODES.filter((c) => used.has(c))) examples[code] = { summary: PROBLEM_CATALOGUE[code].summary, value: exampleBody(code) };
  return document;
}

function problemResponse(description: string, codes: ProblemCode[], headers: Json): Json {
  return {
    description,
    ...(Object.keys(headers).length ? { headers } : {}),
    content: {
      [PROBLEM_MEDIA_TYPE]: {
        schema: { $ref: '#/components/schemas/Problem' },
        examples: Object.fromEntries(codes.map((code) => [code, { $ref: `#/components/examples/${code}` }])),
      },
    },
  };
}
