import { Logger } from '@nestjs/common';
import { httpPost, PostError, PostResult } from '../../../common/http-post';
import { maskPhone } from '../../../common/phone';
import { CallNotPlaced, CallPlaced, CheckCall, OutgoingCall, OutgoingSms, ProviderAccepted, ProviderError, SmsGateway, VoiceGateway } from '../../ports';

/**
 * Generic HTTP provider: POSTs the message as JSON to an in-house SMS or IVR gateway.
 * Request:  {"to": "+81…", "text": "…", "reference": "obx_…"} (voice: "speech" and "locale" instead of "text")
 *           with `Authorization: Bearer <PROVIDER_HTTP_TOKEN>` when set.
 * Answer:   2xx with {"id": "<provider message id>"}; 4xx other than 408/429 is final, the rest is retried.
 *           A 2xx means accepted: one without an id (empty or non-JSON body) is recorded as sent with no
 *           provider id and a warning, never sent again (a retry would send the person the same SMS twice).
 */
export class HttpProvider implements SmsGateway, VoiceGateway {
  readonly name = 'http';
  private readonly logger = new Logger('HttpProvider');

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

  /** The generic JSON contract has no IVR (no key press, no call events): check calls need a vendor (Twilio, Vonage). */
  async placeCheckCall(_call: CheckCall): Promise<CallPlaced> {
    throw new CallNotPlaced(this.name, 'the http provider cannot place IVR check calls', 'route_error', false);
  }

  private async post(body: Record<string, string> & { to: string; reference: string }): Promise<ProviderAccepted> {
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
      id = (JSON.parse(text) as { id?: unknown } | null)?.id;
    } catch {
      id = undefined;
    }
    if (typeof id === 'number' && Number.isFinite(id)) id = String(id);
    if (typeof id !== 'string' || id.length === 0) {
      this.logger.warn(
        { to: maskPhone(body.to), reference: body.reference, statusCode: res.status },
        `provider answered HTTP ${res.status} without a message id: recorded as sent with no provider id`,
      );
      return { provider: this.name, providerMessageId: null };
    }
    return { provider: this.name, providerMessageId: id.slice(0, 128) };
  }
}
