import http from 'node:http';
import https from 'node:https';

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

export interface PostResult {
  status: number;
  body: string;
}

export class PostError extends Error {
  constructor(readonly reason: 'timeout' | 'connection') {
    super(reason === 'timeout' ? 'timed out' : 'connection failed');
    this.name = 'PostError';
  }
}

/**
 * POSTs a body and reads the answer (at most 64 KiB of it), over keep-alive connections. Used for
 * provider calls and webhooks: cheaper per call than fetch, which matters on the hot path of every code.
 */
export function httpPost(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<PostResult> {
  const target = new URL(url);
  const lib = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      target,
      { method: 'POST', agent: agents[target.protocol as 'http:' | 'https:'], headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: timeoutMs },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < 65536) text += chunk;
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: text });
        });
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
