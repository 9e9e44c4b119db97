import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress } from './webhook-destinations';

export type Agents = Record<'http:' | 'https:', http.Agent>;

/** A pool of keep-alive connections per scheme. */
export function createAgents(): Agents {
  return { 'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }) };
}

/** The pool of provider calls; webhooks have their own (webhook.sender.ts). */
const defaultAgents = createAgents();

export interface PostResult {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export interface PostOptions {
  /**
   * Connect to this address instead of resolving the URL's host name again (the Host header and TLS still
   * name the host): a webhook goes to the address its destination check approved, nowhere else.
   */
  address?: ResolvedAddress;
  /** Read at most this many bytes of the answer; past them the connection is closed. 64 KiB unless given. */
  maxBodyBytes?: number;
  agents?: Agents;
  /** POST unless given (the generic provider may PUT). */
  method?: 'POST' | 'PUT';
}

export class PostError extends Error {
  constructor(readonly reason: 'timeout' | 'connection') {
    super(reason === 'timeout' ? 'timed out' : 'connection failed');
    this.name = 'PostError';
  }
}

/** A lookup that answers with one fixed address, in the shape net.connect asks for. */
function pinnedLookup({ address, family }: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) (callback as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/**
 * POSTs a body and reads the answer (at most `maxBodyBytes` of it), over keep-alive connections. Used for
 * provider calls and webhooks: cheaper per call than fetch, which matters on the hot path of every code.
 * Redirects are never followed: a 3xx is an answer like any other.
 */
export function httpPost(url: string, headers: Record<string, string>, body: string, timeoutMs: number, opts: PostOptions = {}): Promise<PostResult> {
  const target = new URL(url);
  const lib = target.protocol === 'https:' ? https : http;
  const maxBodyBytes = opts.maxBodyBytes ?? 65536;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      target,
      {
        method: opts.method ?? 'POST',
        agent: (opts.agents ?? defaultAgents)[target.protocol as 'http:' | 'https:'],
        headers: Object.assign({}, headers, { 'content-length': String(Buffer.byteLength(body)) }),
        timeout: timeoutMs,
        ...(opts.address ? { lookup: pinnedLookup(opts.address) } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, maxBodyBytes).toString('utf8'), headers: res.headers });
        };
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size > maxBodyBytes) {
            // enough: a receiver that keeps talking does not hold this send (nor its socket) any longer
            done();
            req.destroy();
          }
        });
        res.on('end', done);
        res.on('error', () => reject(new PostError('connection')));
      },
    );
    // one deadline for the whole exchange, not only for idle sockets
    const timer = setTimeout(() => req.destroy(new PostError('timeout')), timeoutMs);
    req.on('timeout', () => req.destroy(new PostError('timeout')));
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof PostError ? err : new PostError('connection'));
    });
    req.end(body);
  });
}
