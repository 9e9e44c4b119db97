import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import { AppConfig } from '../../../config/app-config';
import { ProviderError } from '../../ports';
import { HttpProvider } from './http.provider';

/** The provider's settings as the service reads them from the environment (the http provider routed for SMS). */
const settings = (env: Record<string, string> = {}) => AppConfig.fromEnv({ SMS_PROVIDER: 'http', SMS_HTTP_URL: 'http://127.0.0.1:9/sms', ...env }).gateway.http;

describe('HttpProvider (against a local HTTP server)', () => {
  let server: Server;
  let url: string;
  let handler: (req: IncomingMessage, body: string, res: ServerResponse) => void;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += String(d)));
      req.on('end', () => handler(req, body, res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/sms`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('posts the message as JSON with the bearer token and returns the provider id', async () => {
    let seen: { auth?: string; json?: unknown } = {};
    handler = (req, body, res) => {
      seen = { auth: req.headers.authorization, json: JSON.parse(body) };
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"id":"prov-1"}');
    };
    const accepted = await new HttpProvider(url, settings({ PROVIDER_HTTP_TOKEN: 'token-token-token-1' }), 1000).send({ to: '+819012345678', body: 'hello', reference: 'msg_1' });
    expect(accepted).toEqual({ provider: 'http', providerMessageId: 'prov-1' });
    expect(seen).toEqual({ auth: 'Bearer token-token-token-1', json: { to: '+819012345678', text: 'hello', reference: 'msg_1' } });
  });

  it.each([
    [500, true],
    [429, true],
    [408, true],
    [400, false],
    [404, false],
  ])('HTTP %i is a ProviderError, retryable: %s', async (status, retryable) => {
    handler = (_req, _body, res) => res.writeHead(status).end();
    const err = await new HttpProvider(url, settings(), 1000).send({ to: '+819012345678', body: 'x', reference: 'r' }).catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ retryable, statusCode: status });
  });

  it.each([
    [200, '{}'],
    [200, ''],
    [202, 'accepted'],
    [200, 'null'],
    [201, '{"id":""}'],
    [200, '{"id":{"nested":true}}'],
  ])('HTTP %i %j (no id) is accepted with a null provider id and a warning naming no number or token', async (status, answer) => {
    handler = (_req, _body, res) => res.writeHead(status).end(answer);
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const accepted = await new HttpProvider(url, settings({ PROVIDER_HTTP_TOKEN: 'token-token-token-1' }), 1000).send({ to: '+819012345678', body: 'code 123456', reference: 'msg_1' });
      expect(accepted).toEqual({ provider: 'http', providerMessageId: null });
      expect(warn).toHaveBeenCalledTimes(1);
      const logged = JSON.stringify(warn.mock.calls);
      expect(logged).toContain('without a message id');
      expect(logged).toContain('+81*******5678');
      expect(logged).toContain('msg_1');
      for (const secret of ['819012345678', 'token-token-token-1', '123456']) expect(logged).not.toContain(secret);
    } finally {
      warn.mockRestore();
    }
  });

  it('a numeric id is kept as a string', async () => {
    handler = (_req, _body, res) => res.writeHead(200).end('{"id":12345}');
    await expect(new HttpProvider(url, settings(), 1000).send({ to: '+819012345678', body: 'x', reference: 'r' })).resolves.toEqual({ provider: 'http', providerMessageId: '12345' });
  });

  it('a provider that never answers times out, retryable', async () => {
    handler = () => undefined;
    const started = Date.now();
    const err = await new HttpProvider(url, settings(), 300).send({ to: '+1', body: 'x', reference: 'r' }).catch((e) => e);
    expect(err).toMatchObject({ message: 'timed out after 300 ms', retryable: true });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a closed port is a connection failure, retryable', async () => {
    const err = await new HttpProvider('http://127.0.0.1:9/sms', settings(), 1000).send({ to: '+1', body: 'x', reference: 'r' }).catch((e) => e);
    expect(err).toMatchObject({ message: 'connection failed', retryable: true });
  });

  describe('templated (a domestic aggregator configured without code)', () => {
    const aggregator = (over: Record<string, string> = {}) =>
      settings({
        PROVIDER_HTTP_TOKEN: 'agg-secret-0123456789',
        PROVIDER_HTTP_AUTH_HEADER: 'X-API-Key',
        PROVIDER_HTTP_AUTH_VALUE: '{{token}}',
        PROVIDER_HTTP_CONTENT_TYPE: 'form',
        PROVIDER_HTTP_FROM: '0005',
        SMS_HTTP_BODY_TEMPLATE: '{"phone":"{{to_national}}","msisdn":"{{to_digits}}","message":"{{text}}","sender":"{{from}}","user_ref":"{{reference}}","type":1}',
        PROVIDER_HTTP_ID_PATH: 'result.msgid',
        PROVIDER_HTTP_ERROR_PATH: 'result.error',
        ...over,
      });
    const text = 'コード: 123456 & a=b+c "q"\nnext';

    it('a form body, every value encoded, the token in its own header; the id read at its path', async () => {
      let seen: { method?: string; type?: string; key?: string; auth?: string; body?: string } = {};
      handler = (req, body, res) => {
        seen = { method: req.method, type: req.headers['content-type'], key: req.headers['x-api-key'] as string, auth: req.headers.authorization, body };
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":{"msgid":"A-77","error":null}}');
      };
      const accepted = await new HttpProvider(url, aggregator(), 1000).send({ to: '+819012345678', body: text, reference: 'msg_1' });
      expect(accepted).toEqual({ provider: 'http', providerMessageId: 'A-77' });
      expect(seen).toEqual({ method: 'POST', type: 'application/x-www-form-urlencoded', key: 'agg-secret-0123456789', auth: undefined, body: seen.body });
      expect(seen.body).toBe(
        'phone=09012345678&msisdn=819012345678&message=' + encodeURIComponent(text).replace(/%20/g, '+') + '&sender=0005&user_ref=msg_1&type=1',
      );
      expect(Object.fromEntries(new URLSearchParams(seen.body!))).toEqual({ phone: '09012345678', msisdn: '819012345678', message: text, sender: '0005', user_ref: 'msg_1', type: '1' });
    });

    it('a nested JSON body with PUT: values JSON-escaped, numbers kept', async () => {
      let seen: { method?: string; body?: string } = {};
      handler = (req, body, res) => {
        seen = { method: req.method, body };
        res.writeHead(201).end('{"data":{"messages":[{"id":991}]}}');
      };
      const json = aggregator({
        PROVIDER_HTTP_CONTENT_TYPE: 'json',
        PROVIDER_HTTP_METHOD: 'PUT',
        SMS_HTTP_BODY_TEMPLATE: '{"messages":[{"to":"{{to}}","body":"{{text}}","ref":"{{reference}}"}],"priority":2}',
        PROVIDER_HTTP_ID_PATH: 'data.messages.0.id',
      });
      await expect(new HttpProvider(url, json, 1000).send({ to: '+819012345678', body: text, reference: 'msg_2' })).resolves.toEqual({ provider: 'http', providerMessageId: '991' });
      expect(seen.method).toBe('PUT');
      expect(seen.body).toBe(`{"messages":[{"to":"+819012345678","body":${JSON.stringify(text)},"ref":"msg_2"}],"priority":2}`);
    });

    it('an error at the error path: a 2xx carrying one is a permanent refusal; a 4xx records the code only', async () => {
      handler = (_req, _body, res) => res.writeHead(200).end('{"result":{"error":"E101"}}');
      await expect(new HttpProvider(url, aggregator(), 1000).send({ to: '+819012345678', body: 'x', reference: 'r' })).rejects.toMatchObject({ retryable: false, message: 'HTTP 200 (error E101)' });
      handler = (_req, _body, res) => res.writeHead(400).end('{"result":{"error":"bad number +819012345678"}}');
      const err = await new HttpProvider(url, aggregator(), 1000).send({ to: '+819012345678', body: 'x', reference: 'r' }).catch((e) => e);
      expect(err).toMatchObject({ retryable: false, statusCode: 400, message: 'HTTP 400 (error unreadable)' });
    });

    it('PROVIDER_HTTP_RETRYABLE_STATUSES decides; a 429 keeps its Retry-After', async () => {
      const custom = aggregator({ PROVIDER_HTTP_RETRYABLE_STATUSES: '429,503,409' });
      for (const [status, retryable] of [[409, true], [503, true], [500, false], [408, false], [404, false]] as const) {
        handler = (_req, _body, res) => res.writeHead(status).end();
        await expect(new HttpProvider(url, custom, 1000).send({ to: '+819012345678', body: 'x', reference: 'r' })).rejects.toMatchObject({ retryable, statusCode: status });
      }
      handler = (_req, _body, res) => res.writeHead(429, { 'retry-after': '7' }).end();
      await expect(new HttpProvider(url, aggregator(), 1000).send({ to: '+819012345678', body: 'x', reference: 'r' })).rejects.toMatchObject({ retryable: true, retryAfterMs: 7000 });
    });
  });
});
