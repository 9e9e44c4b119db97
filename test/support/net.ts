import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * An HTTP server that reads each request whole and then cuts the connection without answering: a provider that may
 * have acted on the request (the "connection lost" whose outcome is unknown). `requests` counts what it read.
 */
export async function startDroppingServer(): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0;
  const server = createHttpServer((req) => {
    req.resume();
    req.on('end', () => {
      requests++;
      req.socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
