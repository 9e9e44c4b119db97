import { parsePhoneNumberWithError } from 'libphonenumber-js/max';
import type { HttpPlaceholder, TemplateValue } from '../../../config/http-template';

/** The values a template's placeholders take for one message. */
export type TemplateValues = Partial<Record<HttpPlaceholder, string>>;

/**
 * The recipient's forms: E.164 (`+819012345678`), its digits (`819012345678`), the national number (`09012345678`).
 * The national form only when `national` (a template that names it): libphonenumber's metadata lookup was a tenth of a
 * millisecond a send. A plain object, not a lazy getter: an object literal with a getter is a dictionary-mode object,
 * one more allocation in the old generation per send.
 */
export function recipientValues(e164: string, national = true): Pick<TemplateValues, 'to' | 'to_digits' | 'to_national'> {
  return { to: e164, to_digits: e164.replace(/^\+/, ''), to_national: national ? nationalForm(e164) : undefined };
}

function nationalForm(e164: string): string {
  try {
    return parsePhoneNumberWithError(e164).formatNational().replace(/\D/g, '');
  } catch {
    return e164.replace(/\D/g, '');
  }
}

/**
 * Fills in a template (checked at start by config/http-template.ts): every `{{name}}` in a string value is
 * replaced by its value, as text. Nothing is escaped here: the result is an object, which serialise() turns into
 * JSON or a form, so quotes, newlines, `&`, `=` and `+` in a message can never break out of their field.
 */
export function renderTemplate(template: TemplateValue, values: TemplateValues): TemplateValue {
  if (typeof template === 'string') return template.replace(/\{\{\s*([A-Za-z_]+)\s*\}\}/g, (_m, name: string) => values[name as HttpPlaceholder] ?? '');
  if (Array.isArray(template)) return template.map((v) => renderTemplate(v, values));
  if (template && typeof template === 'object') return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, renderTemplate(v, values)]));
  return template;
}

/** The request body and its Content-Type. A form body is flat (checked at start). */
export function serialise(body: TemplateValue, contentType: 'json' | 'form'): { body: string; contentType: string } {
  if (contentType === 'json') return { body: JSON.stringify(body), contentType: 'application/json' };
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(body as Record<string, string | number | boolean>)) form.append(k, String(v));
  return { body: form.toString(), contentType: 'application/x-www-form-urlencoded' };
}

/** The value at a dot path (`data.messages.0.id`) of a parsed JSON answer, or undefined. */
export function readPath(json: unknown, path: string): unknown {
  let at: unknown = json;
  for (const part of path.split('.')) {
    if (at === null || typeof at !== 'object') return undefined;
    at = Array.isArray(at) ? (/^\d+$/.test(part) ? at[Number(part)] : undefined) : Object.prototype.hasOwnProperty.call(at, part) ? (at as Record<string, unknown>)[part] : undefined;
  }
  return at;
}
