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
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
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
    default:
      if (err instanceof SyntaxError || /JSON/i.test(err.message ?? ''))
        return new ProblemException(400, 'validation_failed', 'The request body is not valid JSON.');
      return new ProblemException(status, STATUS_CODES[status] ?? 'bad_request', err.message);
  }
}

export function toProblem(exception: unknown): ProblemException | undefined {
  if (exception instanceof ProblemException) return exception;
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
  const body: ProblemBody = {
    ...rest,
    type: PROBLEM_TYPE_BASE + problem.code.replace(/_/g, '-'),
    title: titleFor(problem.code, problem.status),
    status: problem.status,
    code: problem.code,
    ...(problem.detail ? { detail: problem.detail } : {}),
    ...(instance ? { instance } : {}),
  };
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

export function sendProblem(exception: unknown, request: FastifyRequest, reply: FastifyReply, logger: Pick<Logger, 'error'>): void {
  let problem = toProblem(exception);
  if (!problem) {
    logger.error({ err: exception, reqId: request.id }, `Unhandled error on ${request.method} ${request.routeOptions?.url ?? 'unknown route'}`);
    problem = new ProblemException(500, 'internal_error', `An unexpected error occurred. Quote request id ${request.id} to the operators.`);
  }
  if (reply.sent) return;
  for (const [name, value] of Object.entries(problem.extra.headers ?? {})) reply.header(name, value);
  reply.status(problem.status).type('application/problem+json').send(JSON.stringify(problemBody(problem)));
}
