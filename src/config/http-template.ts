/**
 * The body templates of the generic `http` provider (SMS_HTTP_BODY_TEMPLATE, VOICE_HTTP_BODY_TEMPLATE), checked
 * at start. A template is a JSON object whose string values may hold placeholders (`{{to}}`, `{{text}}`…); the
 * provider fills them in and serialises the result as JSON or as a form (PROVIDER_HTTP_CONTENT_TYPE), so every
 * value is escaped by the serialiser (JSON.stringify, URLSearchParams), never spliced into text by hand.
 * Rendering lives with the provider (gateway/providers/http/http-template.ts); this file only parses and checks.
 */

/** What a placeholder may name, per channel. */
export const HTTP_PLACEHOLDERS = {
  sms: ['to', 'to_digits', 'to_national', 'text', 'reference', 'from'],
  voice: ['to', 'to_digits', 'to_national', 'speech', 'locale', 'reference', 'from'],
} as const;

export type HttpPlaceholder = (typeof HTTP_PLACEHOLDERS)['sms'][number] | (typeof HTTP_PLACEHOLDERS)['voice'][number];

/** A template value: a JSON value whose strings may hold placeholders. */
export type TemplateValue = string | number | boolean | null | TemplateValue[] | { [key: string]: TemplateValue };

/** Today's contract of the `http` provider, which the templates default to. */
export const DEFAULT_HTTP_TEMPLATES = {
  sms: '{"to":"{{to}}","text":"{{text}}","reference":"{{reference}}"}',
  voice: '{"to":"{{to}}","speech":"{{speech}}","locale":"{{locale}}","reference":"{{reference}}"}',
} as const;

const PLACEHOLDER = /\{\{\s*([A-Za-z_]+)\s*\}\}/g;

/** The placeholders a template string names. */
export function placeholdersOf(value: TemplateValue): string[] {
  if (typeof value === 'string') return [...value.matchAll(PLACEHOLDER)].map((m) => m[1]);
  if (Array.isArray(value)) return value.flatMap(placeholdersOf);
  if (value && typeof value === 'object') return Object.values(value).flatMap(placeholdersOf);
  return [];
}

/**
 * Parses and checks one channel's template; throws an Error saying what is wrong (the caller names the variable).
 * The recipient and the content must be placed; `{{from}}` needs a sender; a form body must be flat.
 */
export function parseHttpTemplate(raw: string, channel: 'sms' | 'voice', opts: { form: boolean; hasFrom: boolean }): { [key: string]: TemplateValue } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error('is not JSON: write the body as a JSON object whose string values hold placeholders, e.g. {"phone":"{{to_digits}}","message":"{{text}}"}');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('must be a JSON object');
  const template = parsed as { [key: string]: TemplateValue };
  if (opts.form && !Object.values(template).every((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) {
    throw new Error('must be a flat object of strings, numbers and booleans with PROVIDER_HTTP_CONTENT_TYPE=form');
  }
  const used = placeholdersOf(template);
  const known: readonly string[] = HTTP_PLACEHOLDERS[channel];
  const unknown = [...new Set(used.filter((p) => !known.includes(p)))];
  if (unknown.length) throw new Error(`names unknown placeholders ${unknown.map((p) => `{{${p}}}`).join(', ')} (known: ${known.map((p) => `{{${p}}}`).join(', ')})`);
  if (!used.some((p) => p === 'to' || p === 'to_digits' || p === 'to_national')) throw new Error('must place the recipient: {{to}}, {{to_digits}} or {{to_national}}');
  const content = channel === 'sms' ? 'text' : 'speech';
  if (!used.includes(content)) throw new Error(`must place the ${channel === 'sms' ? 'message text' : 'speech'}: {{${content}}}`);
  if (used.includes('from') && !opts.hasFrom) throw new Error('names {{from}}: set PROVIDER_HTTP_FROM (the sender id)');
  return template;
}

/** PROVIDER_HTTP_RETRYABLE_STATUSES: `408,429,5xx`, codes or classes. */
export function parseStatusList(raw: string): Array<number | string> {
  const parts = raw.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean);
  if (parts.length === 0) throw new Error('empty');
  return parts.map((p) => {
    if (/^[1-5]xx$/.test(p)) return p;
    if (/^[1-5]\d\d$/.test(p)) return Number(p);
    throw new Error(`not a status: ${p}`);
  });
}

/** PROVIDER_HTTP_RECEIPT_STATUS_MAP: `DELIVRD=delivered,UNDELIV=undelivered,…` onto ours. */
export function parseStatusMap(raw: string): Record<string, 'sent' | 'delivered' | 'undelivered' | 'failed'> {
  const map: Record<string, 'sent' | 'delivered' | 'undelivered' | 'failed'> = {};
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.lastIndexOf('=');
    const theirs = part.slice(0, eq).trim();
    const ours = part.slice(eq + 1).trim();
    if (eq <= 0 || !theirs || !['sent', 'delivered', 'undelivered', 'failed'].includes(ours)) throw new Error(`not theirs=ours: ${part}`);
    map[theirs] = ours as 'sent' | 'delivered' | 'undelivered' | 'failed';
  }
  if (Object.keys(map).length === 0) throw new Error('empty');
  return map;
}

/** A dot path into a JSON answer: `id`, `data.messages.0.id`. */
export const DOT_PATH = /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/;
