import fc from 'fast-check';
import { AppConfig, ConfigError } from '../../../config/app-config';
import { DEFAULT_HTTP_TEMPLATES, parseHttpTemplate } from '../../../config/http-template';
import { readPath, recipientValues, renderTemplate, serialise } from './http-template';

describe('http body templates', () => {
  const values = { ...recipientValues('+819012345678'), text: 'x', reference: 'msg_1', from: '0005' };

  it('the default templates are today\'s fixed JSON contract, byte for byte', () => {
    const sms = parseHttpTemplate(DEFAULT_HTTP_TEMPLATES.sms, 'sms', { form: false, hasFrom: false });
    expect(serialise(renderTemplate(sms, { ...values, text: 'hello' }), 'json').body).toBe(JSON.stringify({ to: '+819012345678', text: 'hello', reference: 'msg_1' }));
    const voice = parseHttpTemplate(DEFAULT_HTTP_TEMPLATES.voice, 'voice', { form: false, hasFrom: false });
    expect(serialise(renderTemplate(voice, { ...values, speech: 'いち', locale: 'ja' }), 'json').body).toBe(JSON.stringify({ to: '+819012345678', speech: 'いち', locale: 'ja', reference: 'msg_1' }));
  });

  it('the recipient in its three forms', () => {
    expect(recipientValues('+819012345678')).toEqual({ to: '+819012345678', to_digits: '819012345678', to_national: '09012345678' });
    expect(recipientValues('+14155550123').to_national).toBe('4155550123');
  });

  it('the national form is worked out only for a template that names it', () => {
    const values = recipientValues('+819012345678', false);
    expect(values.to_national).toBeUndefined();
    expect(values).toEqual({ to: '+819012345678', to_digits: '819012345678' });
  });

  it('any text survives JSON and form encoding unchanged (quotes, newlines, &, =, +, braces, unicode)', () => {
    const template = parseHttpTemplate('{"a":"{{to}}","m":"pre {{text}} post","r":"{{reference}}"}', 'sms', { form: true, hasFrom: false });
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (text) => {
        const rendered = renderTemplate(template, { ...values, text });
        expect(JSON.parse(serialise(rendered, 'json').body)).toEqual({ a: '+819012345678', m: `pre ${text} post`, r: 'msg_1' });
        expect(Object.fromEntries(new URLSearchParams(serialise(rendered, 'form').body))).toEqual({ a: '+819012345678', m: `pre ${text} post`, r: 'msg_1' });
      }),
    );
    // a value that itself looks like a placeholder is not expanded again
    expect(renderTemplate(template, { ...values, text: '{{reference}}' })).toMatchObject({ m: 'pre {{reference}} post' });
  });

  it.each([
    ['not json', 'to={{to}}', 'is not JSON'],
    ['an array', '["{{to}}","{{text}}"]', 'must be a JSON object'],
    ['an unknown placeholder', '{"to":"{{to}}","m":"{{text}}","x":"{{code}}"}', 'unknown placeholders {{code}}'],
    ['no recipient', '{"m":"{{text}}"}', 'must place the recipient'],
    ['no text', '{"to":"{{to}}"}', 'must place the message text'],
    ['{{from}} with no sender', '{"to":"{{to}}","m":"{{text}}","f":"{{from}}"}', 'set PROVIDER_HTTP_FROM'],
  ])('refuses %s', (_what, raw, message) => {
    expect(() => parseHttpTemplate(raw, 'sms', { form: false, hasFrom: false })).toThrow(message);
  });

  it('a nested template is refused for form bodies; voice needs {{speech}}', () => {
    expect(() => parseHttpTemplate('{"to":"{{to}}","m":{"t":"{{text}}"}}', 'sms', { form: true, hasFrom: false })).toThrow('flat object');
    expect(() => parseHttpTemplate('{"to":"{{to}}","t":"{{text}}"}', 'voice', { form: false, hasFrom: false })).toThrow('unknown placeholders {{text}}');
  });

  it('at start: a bad template or a half-made set-up stops the service, naming the variable', () => {
    const base = { SMS_PROVIDER: 'http', SMS_HTTP_URL: 'https://sms.example.jp/send' };
    const problems = (env: Record<string, string>) => {
      try {
        AppConfig.fromEnv({ ...base, ...env });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ SMS_HTTP_BODY_TEMPLATE: '{"to":"{{to}}","m":"{{txt}}"}' })).toEqual([expect.stringMatching(/^SMS_HTTP_BODY_TEMPLATE names unknown placeholders \{\{txt\}\}/)]);
    expect(problems({ VOICE_HTTP_BODY_TEMPLATE: '{"to":"{{to}}"}' })).toEqual([expect.stringMatching(/^VOICE_HTTP_BODY_TEMPLATE must place the speech/)]);
    expect(problems({ SMS_HTTP_BODY_TEMPLATE: '{"to":"{{to}}","m":"{{text}}"}', SMS_PROVIDER: 'console' })).toEqual([expect.stringMatching(/^SMS_HTTP_BODY_TEMPLATE is set but no list names http/)]);
    expect(problems({ PROVIDER_HTTP_RECEIPT_SECRET: 'r'.repeat(40), SMS_PROVIDER: 'console' })).toEqual(['PROVIDER_HTTP_RECEIPT_SECRET is set but no list names http']);
    expect(problems({ PROVIDER_HTTP_RETRYABLE_STATUSES: '5xx,teapot' })).toEqual([expect.stringMatching(/^PROVIDER_HTTP_RETRYABLE_STATUSES="5xx,teapot": must be a comma-separated list/)]);
    expect(problems({ PROVIDER_HTTP_RECEIPT_STATUS_MAP: 'DELIVRD=done' })).toEqual([expect.stringMatching(/^PROVIDER_HTTP_RECEIPT_STATUS_MAP=/)]);
    expect(problems({ SMS_HTTP_BODY_TEMPLATE: '{"to":"{{to}}","m":"{{text}}"}' })).toEqual([]);
  });

  it('readPath: dot paths into objects and arrays, nothing from prototypes', () => {
    const json = { a: { b: [{ id: 'x' }, { id: 7 }] } };
    expect(readPath(json, 'a.b.1.id')).toBe(7);
    expect(readPath(json, 'a.b.0.id')).toBe('x');
    expect(readPath(json, 'a.c.id')).toBeUndefined();
    expect(readPath(json, 'a.constructor')).toBeUndefined();
    expect(readPath('text', 'id')).toBeUndefined();
  });
});
