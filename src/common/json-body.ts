import type { FastifyBodyParser } from 'fastify';
import { ProblemException } from './problem';

/** Objects and arrays nested deeper than this are refused (the body itself is level 1). */
export const MAX_JSON_DEPTH = 32;

const OPEN_CURLY = 0x7b;
const OPEN_SQUARE = 0x5b;
const CLOSE_CURLY = 0x7d;
const CLOSE_SQUARE = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether the JSON text nests objects and arrays deeper than `max`. A scan of the bytes before parsing, so
 * no parser, validator or serializer ever recurses through a hostile body; brackets inside strings do not count.
 */
export function nestedDeeperThan(text: Buffer, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_CURLY || c === OPEN_SQUARE) {
      if (++depth > max) return true;
    } else if (c === CLOSE_CURLY || c === CLOSE_SQUARE) {
      depth--;
    }
  }
  return false;
}

/**
 * The application/json body parser: Fastify's own (prototype-poisoning checks, its errors for empty and
 * malformed bodies) after a nesting-depth check. (Strings that cannot be stored are refused, whatever the
 * content type, by StorableTextPipe.)
 */
export function guardedJsonParser(fastifyParser: FastifyBodyParser<string>): FastifyBodyParser<Buffer> {
  return (req, body, done) => {
    if (nestedDeeperThan(body)) {
      done(new ProblemException(400, 'validation_failed', `The JSON body is nested more than ${MAX_JSON_DEPTH} levels deep.`));
      return;
    }
    // Fastify's parser takes a Buffer as well as a string (secure-json-parse reads either).
    void fastifyParser(req, body as unknown as string, done);
  };
}
