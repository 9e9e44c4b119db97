import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import { ProviderError } from '../../ports';
import { HttpProvider } from './http.provider';

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
    const accepted = await new HttpProvider(url, 'token-token-token-1', 1000).send({ to: '+819012345678', body: 'hello', reference: 'msg_1' });
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
    const err = await new HttpProvider(url, undefined, 1000).send({ to: '+819012345678', body: 'x', reference: 'r' }).catch((e) => e);
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
      const accepted = await new HttpProvider(url, 'token-token-token-1', 1000).send({ to: '+819012345678', body: 'code 123456', reference: 'msg_1' });
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
    await expect(new HttpProvider(url, undefined, 1000).send({ to: '+819012345678', body: 'x', reference: 'r' })).resolves.toEqual({ provider: 'http', providerMessageId: '12345' });
  });

  it('a provider that never answers times out, retryable', async () => {
    handler = () => undefined;
    const started = Date.now();
    const err = await new HttpProvider(url, undefined, 300).send({ to: '+1', body: 'x', reference: 'r' }).catch((e) => e);
    expect(err).toMatchObject({ message: 'timed out after 300 ms', retryable: true });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a closed port is a connection failure, retryable', async () => {
    const err = await new HttpProvider('http://127.0.0.1:9/sms', undefined, 1000).send({ to: '+1', body: 'x', reference: 'r' }).catch((e) => e);
    expect(err).toMatchObject({ message: 'connection failed', retryable: true });
  });
});
