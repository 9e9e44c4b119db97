import type twilio from 'twilio';
import type { TwilioConfig } from '../../../config/app-config';
import { ProviderError } from '../../ports';

const TWILIO_API = 'https://api.twilio.com';

type RequestOptions<TData> = Parameters<InstanceType<typeof twilio.RequestClient>['request']>[0] & { data?: TData };

/**
 * The `twilio` SDK, required when the first Twilio client is built: an instance that routes nothing to Twilio never
 * loads it (about 22 MB).
 */
let sdk: typeof twilio | undefined;
const loadSdk = (): typeof twilio => (sdk ??= require('twilio') as typeof twilio);

/**
 * The `twilio` SDK's HTTP client, pointed at TWILIO_API_BASE_URL (the SDK builds https://api.twilio.com/… URLs
 * itself; its `httpClient` option is the one place to send them elsewhere, e.g. to the tests' fake Twilio) and
 * with our timeout. A 429 is turned into a ProviderError here, where its Retry-After header is still in hand
 * (the SDK's RestException drops the headers); every other answer goes back to the SDK.
 */
const requestClientClass = (base: typeof twilio.RequestClient) => class TwilioRequestClient extends base {
  constructor(
    private readonly baseUrl: string,
    timeoutMs: number,
  ) {
    super({ timeout: timeoutMs, keepAlive: true });
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async request<TData>(opts: RequestOptions<TData>): Promise<any> {
    const uri = this.baseUrl !== TWILIO_API && opts.uri.startsWith(TWILIO_API) ? this.baseUrl + opts.uri.slice(TWILIO_API.length) : opts.uri;
    let res: { statusCode: number; body: TData; headers: Record<string, unknown> };
    try {
      res = await super.request<TData>(Object.assign({}, opts, { uri }));
    } catch (err) {
      throw networkError(err, this.defaultTimeout);
    }
    // A 2xx whose body is not JSON (axios hands it over as text): Twilio took the request, the SDK cannot read it.
    if (res.statusCode >= 200 && res.statusCode < 300 && typeof res.body === 'string') throw new TwilioUnreadableAcceptance();
    if (res.statusCode === 429) {
      const code = (res.body as { code?: unknown } | null)?.code;
      throw new TwilioRateLimited(typeof code === 'number' ? code : undefined, retryAfterMs(res.headers['retry-after']));
    }
    return res;
  }
};
let TwilioRequestClient: ReturnType<typeof requestClientClass> | undefined;

/** Twilio accepted the request (2xx) but its answer could not be read: sent, with no sid. Never to be sent again. */
export class TwilioUnreadableAcceptance extends Error {
  constructor() {
    super('Twilio accepted the request with an unreadable answer');
    this.name = 'TwilioUnreadableAcceptance';
  }
}

/** Twilio answered 429 Too Many Requests: retryable, after its Retry-After when it gave one. */
export class TwilioRateLimited extends ProviderError {
  constructor(
    readonly code: number | undefined,
    retryAfter: number | undefined,
  ) {
    super('twilio', `HTTP 429${code !== undefined ? ` (Twilio error ${code})` : ''}`, true, 429, { retryAfterMs: retryAfter });
  }
}

/** The SDK client for one account. */
export function twilioClient(config: TwilioConfig, timeoutMs: number): twilio.Twilio {
  const sdk = loadSdk();
  TwilioRequestClient ??= requestClientClass(sdk.RequestClient);
  return sdk(config.accountSid, config.authToken, { httpClient: new TwilioRequestClient(config.apiBaseUrl, timeoutMs), autoRetry: false });
}

/** Never connected (refused, no such host): surely not sent. Anything else (a timeout, a reset) may have been accepted. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function networkError(err: unknown, timeoutMs: number): ProviderError {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NOT_SENT.has(code)) return new ProviderError('twilio', 'connection failed', true);
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') return new ProviderError('twilio', `timed out after ${timeoutMs} ms`, true, undefined, { unknown: true });
  return new ProviderError('twilio', 'connection lost', true, undefined, { unknown: true });
}

/** Retry-After in seconds or as an HTTP date; capped at 10 minutes. */
export function retryAfterMs(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 600_000) : undefined;
}

/** Twilio's REST error as thrown by the SDK (RestException), whatever the module instance. */
export interface TwilioRestError {
  status: number;
  code?: number;
}

export function isTwilioRestError(err: unknown): err is TwilioRestError {
  return (sdk !== undefined && err instanceof sdk.RestException) || (typeof err === 'object' && err !== null && typeof (err as { status?: unknown }).status === 'number' && (err as Error).name === 'RestException');
}
