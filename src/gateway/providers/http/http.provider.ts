import { Logger } from '@nestjs/common';
import { httpPost, PostError, PostResult } from '../../../common/http-post';
import { maskPhone } from '../../../common/phone';
import type { HttpProviderConfig } from '../../../config/app-config';
import { placeholdersOf, TemplateValue } from '../../../config/http-template';
import { CallNotPlaced, CallPlaced, CheckCall, OutgoingCall, OutgoingSms, ProviderAccepted, ProviderError, SmsGateway, VoiceGateway } from '../../ports';
import { readPath, recipientValues, renderTemplate, serialise, TemplateValues } from './http-template';

/** What the provider needs of its config: everything but the URLs (one provider per channel) and the receipts. */
export type HttpRequestSettings = Omit<HttpProviderConfig, 'smsUrl' | 'voiceUrl' | 'receipts'>;

/**
 * Generic HTTP provider: an in-house gateway or a domestic SMS aggregator, plugged in by configuration alone.
 * By default it speaks the fixed JSON contract it always has:
 *   POST {"to": "+81…", "text": "…", "reference": "obx_…"} (voice: "speech" and "locale" instead of "text")
 *   with `Authorization: Bearer <PROVIDER_HTTP_TOKEN>` when set; answer 2xx {"id": "<provider message id>"}.
 * Each part can be changed: the method (PROVIDER_HTTP_METHOD), the body (SMS_HTTP_BODY_TEMPLATE /
 * VOICE_HTTP_BODY_TEMPLATE: a JSON object with placeholders, sent as JSON or as a form, PROVIDER_HTTP_CONTENT_TYPE),
 * the auth header (PROVIDER_HTTP_AUTH_HEADER, PROVIDER_HTTP_AUTH_VALUE with `{{token}}`), where the answer holds the
 * message id and an error (PROVIDER_HTTP_ID_PATH, PROVIDER_HTTP_ERROR_PATH), which statuses are retryable
 * (PROVIDER_HTTP_RETRYABLE_STATUSES: 408, 429 with its Retry-After, 5xx by default; any other 4xx or 5xx is final).
 * A 2xx means accepted: one without an id is recorded as sent with no provider id and a warning, never sent again
 * (a retry would send the person the same SMS twice); with an error path, a 2xx that carries an error is a refusal.
 * Its signed delivery receipts are http-status.controller.ts's. Only the status and the error code it gives are
 * ever recorded: an aggregator's error text may quote the number.
 */
export class HttpProvider implements SmsGateway, VoiceGateway {
  readonly name = 'http';
  private readonly logger = new Logger('HttpProvider');
  /** Whether each channel's template names {{to_national}} (parsed per send only then). */
  private readonly national: { sms: boolean; voice: boolean };

  constructor(
    private readonly url: string,
    private readonly settings: HttpRequestSettings,
    private readonly timeoutMs: number,
  ) {
    this.national = { sms: placeholdersOf(settings.templates.sms).includes('to_national'), voice: placeholdersOf(settings.templates.voice).includes('to_national') };
  }

  send(sms: OutgoingSms): Promise<ProviderAccepted> {
    return this.request(this.settings.templates.sms, Object.assign(recipientValues(sms.to, this.national.sms), { text: sms.body, reference: sms.reference, from: this.settings.from }), sms.to, sms.reference);
  }

  call(call: OutgoingCall): Promise<ProviderAccepted> {
    return this.request(this.settings.templates.voice, Object.assign(recipientValues(call.to, this.national.voice), { speech: call.speech, locale: call.locale, reference: call.reference, from: this.settings.from }), call.to, call.reference);
  }

  /** The generic contract has no IVR (no key press, no call events): check calls need a vendor (Twilio, Vonage). */
  async placeCheckCall(_call: CheckCall): Promise<CallPlaced> {
    throw new CallNotPlaced(this.name, 'the http provider cannot place IVR check calls', 'route_error', false);
  }

  private async request(template: { [key: string]: TemplateValue }, values: TemplateValues, to: string, reference: string): Promise<ProviderAccepted> {
    const { body, contentType } = serialise(renderTemplate(template, values), this.settings.contentType);
    const headers: Record<string, string> = { 'content-type': contentType, accept: 'application/json', ...(this.settings.auth ? { [this.settings.auth.header]: this.settings.auth.value } : {}) };
    let res: PostResult;
    try {
      res = await httpPost(this.url, headers, body, this.timeoutMs, { method: this.settings.method });
    } catch (err) {
      const reason = err instanceof PostError && err.reason === 'timeout' ? `timed out after ${this.timeoutMs} ms` : 'connection failed';
      throw new ProviderError(this.name, reason);
    }
    let json: unknown;
    try {
      json = JSON.parse(res.body);
    } catch {
      json = undefined;
    }
    const error = this.settings.errorPath ? errorCode(readPath(json, this.settings.errorPath)) : null;
    if (res.status < 200 || res.status >= 300) {
      // (a 3xx is never followed, and says nothing final about the message: retryable, as it always was)
      const retryable = res.status < 400 || isListed(res.status, this.settings.retryableStatuses);
      const retryAfter = res.status === 429 ? retryAfterMs(res.headers['retry-after']) : undefined;
      throw new ProviderError(this.name, `HTTP ${res.status}${error ? ` (error ${error})` : ''}`, retryable, res.status, retryAfter ? { retryAfterMs: retryAfter } : {});
    }
    if (error) throw new ProviderError(this.name, `HTTP ${res.status} (error ${error})`, false, res.status);
    let id = readPath(json, this.settings.idPath);
    if (typeof id === 'number' && Number.isFinite(id)) id = String(id);
    if (typeof id !== 'string' || id.length === 0) {
      this.logger.warn({ to: maskPhone(to), reference, statusCode: res.status }, `provider answered HTTP ${res.status} without a message id: recorded as sent with no provider id`);
      return { provider: this.name, providerMessageId: null };
    }
    return { provider: this.name, providerMessageId: id.slice(0, 128) };
  }
}

/** Whether a status is in a list of codes (429) and classes ('5xx'). */
export function isListed(status: number, list: Array<number | string>): boolean {
  return list.some((s) => (typeof s === 'number' ? s === status : Number(s[0]) === Math.floor(status / 100)));
}

/**
 * The provider's error code as it may be recorded: a short code (`E101`, `invalid_number`, 21211), never free
 * text, nor a long run of digits that could be a phone number. Absent, null, false and '' are no error.
 */
export function errorCode(value: unknown): string | null {
  if (value === undefined || value === null || value === false || value === '') return null;
  const text = String(value);
  return /^[A-Za-z0-9_.-]{1,32}$/.test(text) && !/\d{9,}/.test(text) ? text : 'unreadable';
}

/** Retry-After in seconds or as an HTTP date; capped at 10 minutes. */
function retryAfterMs(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 600_000) : undefined;
}
