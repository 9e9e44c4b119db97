import { Injectable, Param, PipeTransform } from '@nestjs/common';
import { Problems } from './problem';

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

/** `@IdParam('id')`: a route's id parameter, checked by ResourceIdPipe. */
export const IdParam = (name: string): ParameterDecorator => Param(name, ResourceIdPipe);
