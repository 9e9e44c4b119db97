import { HttpStatus } from '@nestjs/common';

export interface FieldError {
  field: string;
  message: string;
}

/**
 * An error the API answers with as application/problem+json (RFC 9457). `code` is the stable,
 * machine-readable part of the contract (API.md); `title` is fixed per code, `detail` explains this case.
 */
export class ProblemException extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail?: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string>; [key: string]: unknown } = {},
  ) {
    super(detail ?? code);
    this.name = 'ProblemException';
  }
}

const TITLES: Record<string, string> = {
  validation_failed: 'The request is not valid',
  unauthorized: 'Authentication required',
  forbidden: 'Not allowed',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  payload_too_large: 'Request body too large',
  unsupported_media_type: 'Unsupported media type',
  rate_limited: 'Too many requests',
  internal_error: 'Internal server error',
  service_unavailable: 'Service unavailable',
  conflict: 'Conflict',
  bad_request: 'Malformed request',
  request_timeout: 'Request timeout',
  uri_too_long: 'URI too long',
  headers_too_large: 'Request headers too large',
};

export function titleFor(code: string, status: number): string {
  return TITLES[code] ?? HttpStatus[status]?.toString().toLowerCase().replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()) ?? 'Error';
}

export const Problems = {
  validation: (errors: FieldError[], detail = 'One or more fields are invalid.') =>
    new ProblemException(400, 'validation_failed', detail, { errors }),
  unauthorized: (detail = 'A valid API key is required: Authorization: Bearer <api key>.') =>
    new ProblemException(401, 'unauthorized', detail, { headers: { 'WWW-Authenticate': 'Bearer' } }),
  forbidden: (detail: string) => new ProblemException(403, 'forbidden', detail),
  notFound: (detail = 'No such resource.') => new ProblemException(404, 'not_found', detail),
};
