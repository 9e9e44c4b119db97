import { connect, createServer, Server, Socket } from 'node:net';
import { freePort } from './net';

/**
 * A TCP proxy in front of a server (the machine's shared Redis), so a test can take that server away from the
 * service and give it back without touching the server itself, which other test runs use.
 */
export interface TcpProxy {
  /** The proxy's port (the same after a restart). */
  port: number;
  /** Stops listening and cuts every open connection: to the service, the server is gone. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** Keeps every connection open (and accepts new ones) but forwards nothing: a server that hangs. */
  freeze(): void;
  /** Forwards again. */
  thaw(): void;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let frozen = false;

  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };

  const proxy: TcpProxy = {
    port,
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
    },
    start: () =>
      new Promise<void>((resolve, reject) => {
        const srv = createServer((inbound) => {
          const outbound = connect(target);
          track(inbound);
          track(outbound);
          inbound.on('data', (chunk) => frozen || outbound.write(chunk));
          outbound.on('data', (chunk) => frozen || inbound.write(chunk));
          inbound.on('close', () => outbound.destroy());
          outbound.on('close', () => inbound.destroy());
        });
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', () => {
          server = srv;
          resolve();
        });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        sockets.clear();
        const srv = server;
        server = undefined;
        if (!srv) return resolve();
        srv.close(() => resolve());
      }),
  };
  await proxy.start();
  return proxy;
}
