import { Injectable, Param, PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { Problems } from './problem';
import { ApiProblem } from './problem-docs';

/** What any id of ours can look like (`vrf_01JD…`, `cli_…`, `key_…`), with room to spare. */
const RESOURCE_ID = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * A path id that no resource can have (a NUL, which PostgreSQL refuses in text, other control characters,
 * non-ASCII text) answers 404 not_found, as an unknown id does, before any query runs.
 */
@Injectable()
export class ResourceIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (typeof value !== 'string' || !RESOURCE_ID.test(value)) throw Problems.notFound();
    return value;
  }
}

/** `@IdParam('id')`: a route's id parameter, checked by ResourceIdPipe; documented in OpenAPI with its pattern (and the router's 400 for a malformed one). */
export const IdParam =
  (name: string): ParameterDecorator =>
  (target, key, index) => {
    Param(name, ResourceIdPipe)(target, key, index);
    if (key === undefined) return;
    const documented = ApiParam({
      name,
      schema: { type: 'string', pattern: RESOURCE_ID.source, maxLength: 100 },
      description: 'An id as the API gave it (`vrf_…`, `cli_…`, `key_…`, `blk_…`); anything else answers 404 not_found.',
    });
    const descriptor = Object.getOwnPropertyDescriptor(target, key) as PropertyDescriptor;
    documented(target, key, descriptor);
    ApiProblem('bad_request', 'A path segment is not percent-encoded UTF-8.')(target, key, descriptor);
  };
