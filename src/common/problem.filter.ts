import { STATUS_CODES as STATUS_CODES_TEXT } from 'node:http';
import type { Duplex } from 'node:stream';
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProblemException, titleFor } from './problem';

export const PROBLEM_TYPE_BASE = 'https://otp-verify.dev/problems/';

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  [key: string]: unknown;
}

const STATUS_CODES: Record<number, string> = {
  400: 'validation_failed',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'headers_too_large',
  503: 'service_unavailable',
};

/** Fastify's own errors (raised before a route handler runs) carry a `statusCode` and a `code` like FST_ERR_CTP_…. */
interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

function fromFastifyError(err: FastifyLikeError): ProblemException | undefined {
  const status = err.statusCode;
  if (!status || status < 400 || status >= 500) return undefined;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemException(413, 'payload_too_large', 'The request body exceeds the 16 KiB limit.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemException(415, 'unsupported_media_type', 'Send the body as application/json.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ProblemException(400, 'validation_failed', 'The body is empty but the content type is application/json.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ProblemException(400, 'validation_failed', 'The request body is not valid JSON.');
    case 'FST_ERR_BAD_URL':
      return new ProblemException(400, 'bad_request', 'The URL is not valid: a path segment is not correctly percent-encoded UTF-8.');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ProblemException(414, 'uri_too_long', 'A path segment of the URL is longer than 100 characters.');
    default:
      if (err instanceof SyntaxError || /JSON/i.test(err.message ?? ''))
        return new ProblemException(400, 'validation_failed', 'The request body is not valid JSON.');
      return new ProblemException(status, STATUS_CODES[status] ?? 'bad_request', err.message);
  }
}

/** Node socket errors and PostgreSQL SQLSTATEs that mean "the database cannot be reached or did not answer in time". */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const UNAVAILABLE_SQLSTATES = /^(08...|57P0[123]|53300|57014)$/; // connection exception, shutdown, too many connections, statement timeout
const UNAVAILABLE_MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|Query read timeout|not queryable|Driver not Connected|canceling statement due to statement timeout/i;

/** Whether `test` holds for an error or for one it wraps (TypeORM's `driverError`, a `cause`, an AggregateError's `errors`). */
function anyCause(err: unknown, test: (e: { code?: unknown; message?: unknown }) => boolean, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 3) return false;
  const e = err as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown; errors?: unknown };
  if (test(e)) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => anyCause(inner, test, depth + 1))) return true;
  return anyCause(e.driverError, test, depth + 1) || anyCause(e.cause, test, depth + 1);
}

/** Whether an error (or the driver error it wraps) says the database is down, frozen or overloaded, not that a statement is wrong. */
export function isDatabaseUnavailable(err: unknown): boolean {
  return anyCause(
    err,
    (e) =>
      (typeof e.code === 'string' && (UNREACHABLE_CODES.has(e.code) || UNAVAILABLE_SQLSTATES.test(e.code))) ||
      (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)),
  );
}

/**
 * SQLSTATEs of a transaction PostgreSQL rolled back because of concurrent transactions, not because of anything
 * wrong in the request: serialization_failure, deadlock_detected, lock_not_available (a lock_timeout). Nothing of
 * the request was kept, so the same request can simply be sent again.
 */
const CONFLICT_SQLSTATES = new Set(['40001', '40P01', '55P03']);

export function isTransactionConflict(err: unknown): boolean {
  return anyCause(err, (e) => typeof e.code === 'string' && CONFLICT_SQLSTATES.has(e.code));
}

/** Seconds a caller should wait before retrying while the database is unavailable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;
/** Seconds a caller should wait before retrying a request rolled back by a conflict with concurrent requests. */
export const CONFLICT_RETRY_AFTER_SECONDS = 1;

export function toProblem(exception: unknown): ProblemException | undefined {
  if (exception instanceof ProblemException) return exception;
  if (isDatabaseUnavailable(exception)) {
    return new ProblemException(503, 'service_unavailable', 'The database is unavailable or did not answer in time. Retry after the time in Retry-After (a start with the same Idempotency-Key).', {
      headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) },
    });
  }
  if (isTransactionConflict(exception)) {
    return new ProblemException(
      503,
      'service_unavailable',
      'The request met concurrent requests on the same verification or phone number and was rolled back; nothing of it was kept. Send it again after the time in Retry-After (a start with the same Idempotency-Key).',
      { headers: { 'Retry-After': String(CONFLICT_RETRY_AFTER_SECONDS) } },
    );
  }
  if (exception instanceof ThrottlerException) {
    return new ProblemException(429, 'rate_limited', 'Too many requests for this API client; retry after the time in Retry-After.');
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status === 503) {
      // e.g. a failed readiness check: keep its details, they name what is down
      const response = exception.getResponse();
      return new ProblemException(503, 'service_unavailable', 'A dependency is unavailable.', typeof response === 'object' ? { checks: response } : {});
    }
    if (status >= 500) return undefined;
    const code = STATUS_CODES[status] ?? 'bad_request';
    const detail = status === 404 ? 'No such resource.' : exception.message;
    return new ProblemException(status, code, detail);
  }
  if (exception && typeof exception === 'object' && 'statusCode' in exception) return fromFastifyError(exception as FastifyLikeError);
  return undefined;
}

export function problemBody(problem: ProblemException, instance?: string): ProblemBody {
  const { errors, headers: _headers, ...rest } = problem.extra;
  const body: ProblemBody = Object.assign(
    {},
    rest,
    { type: PROBLEM_TYPE_BASE + problem.code.replace(/_/g, '-'), title: titleFor(problem.code, problem.status), status: problem.status, code: problem.code },
    problem.detail ? { detail: problem.detail } : {},
    instance ? { instance } : {},
  );
  if (errors) body.errors = errors;
  return body;
}

/**
 * One filter for every error: known problems become problem+json with their code; anything else is a
 * generic 500 that says nothing of the cause, while the cause is logged with the request id.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    sendProblem(exception, request, reply, this.logger);
  }
}

/**
 * Fastify's `frameworkErrors`: errors the router raises before any hook runs (a malformed percent-encoding in
 * the path, an over-long path parameter), answered like every other error, with the request id.
 */
export function sendFrameworkProblem(error: FastifyLikeError, request: FastifyRequest, reply: FastifyReply): void {
  const problem = fromFastifyError(error) ?? new ProblemException(400, 'bad_request', 'The request could not be routed.');
  reply.header('X-Request-Id', request.id);
  sendProblem(problem, request, reply, frameworkLogger);
}
const frameworkLogger = new Logger('ProblemFilter');

const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'headers_too_large', 'The request line and headers are larger than the server accepts.'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'The request was not received in time.'],
};

/**
 * Fastify's `clientErrorHandler`: Node's HTTP parser refused the request (a malformed request line or header,
 * headers over the limit, a timeout), so there is no request object; the answer is written to the socket
 * as problem+json with a fresh request id, which is logged with the parser's error code.
 */
export function clientErrorResponder(newRequestId: () => string, logger: Pick<Logger, 'log'> = new Logger('HttpClientError')) {
  return (err: Error & { code?: string }, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, detail] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'bad_request', 'The request is not valid HTTP/1.1.'];
    const requestId = newRequestId();
    logger.log({ reqId: requestId, code: err.code, status }, 'Refused a malformed request before routing');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(problemBody(new ProblemException(status, code, `${detail} Request id ${requestId}.`)));
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES_TEXT[status] ?? 'Bad Request'}\r\n` +
        'Content-Type: application/problem+json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  };
}

export function sendProblem(exception: unknown, request: FastifyRequest, reply: FastifyReply, logger: Pick<Logger, 'error' | 'warn'>): void {
  let problem = toProblem(exception);
  if (problem && problem.status === 503 && problem !== exception) {
    const what = isTransactionConflict(exception) ? 'Transaction rolled back by a conflict with concurrent ones' : 'Database unavailable';
    logger.warn({ err: exception, reqId: request.id }, `${what} on ${request.method} ${request.routeOptions?.url ?? 'unknown route'}: answered 503`);
  }
  if (!problem) {
    logger.error({ err: exception, reqId: request.id }, `Unhandled error on ${request.method} ${request.routeOptions?.url ?? 'unknown route'}`);
    problem = new ProblemException(500, 'internal_error', `An unexpected error occurred. Quote request id ${request.id} to the operators.`);
  }
  if (reply.sent) return;
  for (const [name, value] of Object.entries(problem.extra.headers ?? {})) reply.header(name, value);
  reply.status(problem.status).type('application/problem+json').send(JSON.stringify(problemBody(problem)));
}
