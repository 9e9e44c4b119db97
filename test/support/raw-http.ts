import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  text: string;
  body: any;
}

/**
 * Writes `request` as is to a new TCP connection and parses the answer, for requests fetch refuses to send
 * (a malformed request line, oversized headers). Resolves once the server closes the connection or
 * the whole body (by Content-Length) has arrived.
 */
export function rawRequest(url: string, request: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error) => {
      if (settled) return;
      const parsed = parse(Buffer.concat(chunks));
      if (!err && !parsed) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (parsed) resolve(parsed);
      else reject(err ?? new Error('no answer'));
    };
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      const parsed = parse(Buffer.concat(chunks));
      if (parsed && parsed.complete) finish();
    });
    socket.on('error', () => finish(new Error('connection error before an answer')));
    socket.on('close', () => finish(new Error('connection closed before an answer')));
  });
}

function parse(buf: Buffer): (RawResponse & { complete: boolean }) | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const bodyBytes = buf.subarray(end + 4);
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  const text = bodyBytes.toString('utf8');
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: Number(match[1]), headers, text, body, complete: length !== undefined && bodyBytes.length >= length };
}
