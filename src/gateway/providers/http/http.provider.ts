import { httpPost, PostError, PostResult } from '../../../common/http-post';
import { OutgoingCall, OutgoingSms, ProviderAccepted, ProviderError, SmsGateway, VoiceGateway } from '../../ports';

/**
 * Generic HTTP provider: POSTs the message as JSON to an in-house SMS or IVR gateway.
 * Request:  {"to": "+81…", "text": "…", "reference": "obx_…"} (voice: "speech" and "locale" instead of "text")
 *           with `Authorization: Bearer <PROVIDER_HTTP_TOKEN>` when set.
 * Answer:   2xx with {"id": "<provider message id>"}; 4xx other than 408/429 is final, the rest is retried.
 */
export class HttpProvider implements SmsGateway, VoiceGateway {
  readonly name = 'http';

  constructor(
    private readonly url: string,
    private readonly token: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  send(sms: OutgoingSms): Promise<ProviderAccepted> {
    return this.post({ to: sms.to, text: sms.body, reference: sms.reference });
  }

  call(call: OutgoingCall): Promise<ProviderAccepted> {
    return this.post({ to: call.to, speech: call.speech, locale: call.locale, reference: call.reference });
  }

  private async post(body: Record<string, string>): Promise<ProviderAccepted> {
    let res: PostResult;
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) };
      res = await httpPost(this.url, headers, JSON.stringify(body), this.timeoutMs);
    } catch (err) {
      const reason = err instanceof PostError && err.reason === 'timeout' ? `timed out after ${this.timeoutMs} ms` : 'connection failed';
      throw new ProviderError(this.name, reason);
    }
    const text = res.body;
    if (res.status < 200 || res.status >= 300) {
      const final = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
      throw new ProviderError(this.name, `HTTP ${res.status}`, !final, res.status);
    }
    let id: unknown;
    try {
      id = (JSON.parse(text) as { id?: unknown }).id;
    } catch {
      id = undefined;
    }
    if (typeof id !== 'string' || id.length === 0) throw new ProviderError(this.name, 'answer has no message id', true, res.status);
    return { provider: this.name, providerMessageId: id.slice(0, 128) };
  }
}
