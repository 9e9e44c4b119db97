import type { components } from './schema';

/** An error answer of the API (application/problem+json, RFC 9457), as its OpenAPI document describes it. */
export type Problem = components['schemas']['Problem'];

/** The stable, machine-readable codes: branch on these, never on `detail`. */
export type ProblemCode = Problem['code'];

/**
 * Thrown by the client for every error answer: `code` and `problem` are typed from the OpenAPI document, so
 * `err.code === 'risk_denied'` is checked by the compiler and `err.problem.reasons` is there to read.
 */
export class OtpProblemError extends Error {
  readonly name = 'OtpProblemError';
  /** Seconds the Retry-After header asks to wait (429, 503), when it is there. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly status: number,
    readonly problem: Problem,
    headers?: Headers,
  ) {
    super(`${status} ${problem.code}: ${problem.detail ?? problem.title}`);
    const retryAfter = Number(headers?.get('retry-after'));
    this.retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined;
  }

  get code(): ProblemCode {
    return this.problem.code;
  }

  /** The body of an error answer, or, when it is not problem+json (a proxy's page), a problem that says so. */
  static from(response: Response, body: unknown): OtpProblemError {
    const problem =
      body && typeof body === 'object' && typeof (body as Problem).code === 'string'
        ? (body as Problem)
        : ({
            type: 'about:blank',
            title: response.statusText || 'Error',
            status: response.status,
            code: response.status >= 500 ? 'internal_error' : 'bad_request',
            detail: `The answer was not problem+json: ${typeof body === 'string' ? body.slice(0, 200) : String(body)}`,
          } satisfies Problem);
    return new OtpProblemError(response.status, problem, response.headers);
  }
}

/** Whether `err` is a problem of the API with this code (narrows `err.problem` for the code's members). */
export function isProblem(err: unknown, code?: ProblemCode): err is OtpProblemError {
  return err instanceof OtpProblemError && (code === undefined || err.code === code);
}
