import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { FieldError, Problems } from './problem';

/** A NUL (PostgreSQL cannot store it in text) or half of a surrogate pair (not a character, not valid UTF-8). */
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function unstorableTextReason(value: string): string | undefined {
  const found = UNSTORABLE.exec(value);
  if (!found) return undefined;
  return found[0] === '\u0000' ? 'must not contain NUL characters' : 'must not contain unpaired surrogates (text that is not valid Unicode)';
}

/** A key as it can be named in an error: NUL, other control characters and lone surrogates as \uXXXX. */
function printable(key: string): string {
  // eslint-disable-next-line no-control-regex
  return key.replace(/[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Every string (and object key) in a parsed body that cannot be stored, named by its path (`transaction.payee`, `scopes.0`). */
export function unstorableStrings(value: unknown, path = ''): FieldError[] {
  if (typeof value === 'string') {
    const reason = unstorableTextReason(value);
    return reason ? [{ field: path || 'body', message: `${path || 'body'} ${reason}` }] : [];
  }
  if (value === null || typeof value !== 'object') return [];
  const errors: FieldError[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const field = path ? `${path}.${printable(k)}` : printable(k);
    const reason = unstorableTextReason(k);
    if (reason) errors.push({ field, message: `the field name ${reason}` });
    errors.push(...unstorableStrings(v, field));
  }
  return errors;
}

/**
 * A global pipe, before validation: a body or query value holding a NUL (PostgreSQL refuses it in text) or
 * a lone surrogate (not Unicode; it cannot be encoded as UTF-8) is a 400 naming the field, whatever the
 * route, the DTO or the content type (JSON, form-encoded) it came with.
 */
@Injectable()
export class StorableTextPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type !== 'body' && metadata.type !== 'query') return value;
    const errors = unstorableStrings(value, metadata.data ?? '');
    if (errors.length > 0) throw Problems.validation(errors);
    return value;
  }
}
