import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { waitFor } from './wait';

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: any;
  at: number;
}

export interface FakeServer {
  url: string;
  received: Received[];
  /** Decides the answer to each request; default 200 with a JSON id. Return 'hang' to never answer, `delayMs` to answer late. */
  respond: (req: Received, index: number) => { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number } | 'hang';
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  /** Cuts the connections of the requests not answered yet (hung, or answered late), as a provider that drops them. */
  cutHanging(): void;
  close(): Promise<void>;
}

/** A local HTTP server standing in for an SMS provider or a caller's webhook endpoint. */
export async function startFakeServer(): Promise<FakeServer> {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  let counter = 0;
  const fake: FakeServer = {
    url: '',
    received,
    respond: () => ({ status: 200, body: { id: `fake-${++counter}` } }),
    waitFor: (count, timeoutMs = 10000) =>
      waitFor(() => received.length >= count && received, { timeoutMs, intervalMs: 20, what: () => `${count} requests to the fake server (got ${received.length})` }),
    cutHanging: () => {
      for (const res of hanging.splice(0)) res.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        fake.cutHanging();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += String(d)));
    req.on('end', () => {
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const entry: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json, at: Date.now() };
      received.push(entry);
      const answer = fake.respond(entry, received.length - 1);
      if (answer === 'hang') {
        hanging.push(res);
        return;
      }
      const reply = () => {
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
      };
      if (answer.delayMs) {
        hanging.push(res);
        setTimeout(() => !res.destroyed && reply(), answer.delayMs);
      } else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return fake;
}

/** Runs `fn` while `server` answers with `respond`, then puts the earlier answers back (also when `fn` fails). */
export async function whileAnswering<T>(server: FakeServer, respond: FakeServer['respond'], fn: () => Promise<T>): Promise<T> {
  const earlier = server.respond;
  server.respond = respond;
  try {
    return await fn();
  } finally {
    server.respond = earlier;
  }
}
