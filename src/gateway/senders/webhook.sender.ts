import { createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { createAgents, httpPost, PostError } from '../../common/http-post';
import { WebhookDestinations } from '../../common/webhook-destinations';
import { AppConfig } from '../../config/app-config';
import { Outcome, OutboxBox, OutboxRow, OutboxSender, WebhookPayload } from '../outbox.types';

/** What is read of a receiver's answer: only its status matters. */
export const WEBHOOK_MAX_RESPONSE_BYTES = 4096;

/**
 * Result webhooks to the calling services, signed with the client's webhook secret. Each delivery checks its
 * destination again (common/webhook-destinations.ts) and connects to the address that check approved; a
 * refused destination is not contacted at all, so what is recorded says nothing about what listens there.
 */
@Injectable()
export class WebhookSender implements OutboxSender {
  readonly kinds = ['webhook'] as const;
  readonly backoffSeconds = [10, 60, 300, 900, 1800, 3600, 7200, 14400];
  /** Webhook connections are pooled apart from provider calls. */
  private readonly agents = createAgents();

  constructor(
    private readonly box: OutboxBox,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly destinations: WebhookDestinations,
  ) {}

  async send(row: OutboxRow & { payload: Buffer }): Promise<Outcome> {
    const timeoutMs = this.config.gateway.webhookTimeoutMs;
    try {
      const p = this.box.open<WebhookPayload>(row.payload);
      const deadline = Date.now() + timeoutMs;
      const destination = await this.resolve(p.url, timeoutMs);
      if (!destination.ok) {
        const { reason, host } = destination.refusal;
        return { ok: false, error: `destination refused: ${reason}`, retryable: false, refusal: { reason, host } };
      }
      const t = Math.floor(this.clock.now().getTime() / 1000);
      const signature = createHmac('sha256', p.secret).update(`${t}.${p.body}`).digest('hex');
      const headers = { 'content-type': 'application/json', 'user-agent': 'otp-verify-webhooks/1', 'webhook-id': p.eventId, signature: `t=${t},v1=${signature}` };
      const res = await httpPost(destination.url.toString(), headers, p.body, Math.max(1, deadline - Date.now()), {
        address: destination.address,
        maxBodyBytes: WEBHOOK_MAX_RESPONSE_BYTES,
        agents: this.agents,
      });
      if (res.status >= 200 && res.status < 300) return { ok: true, statusCode: res.status };
      const error = res.status >= 300 && res.status < 400 ? `HTTP ${res.status} (redirects are not followed)` : `HTTP ${res.status}`;
      return { ok: false, error, retryable: true, statusCode: res.status };
    } catch (err) {
      if (!(err instanceof PostError)) throw err; // e.g. a payload sealed with a key no longer configured: the dispatcher records it
      return { ok: false, error: err.reason === 'timeout' ? `timed out after ${timeoutMs} ms` : 'connection failed', retryable: true };
    }
  }

  /** The destination check with its DNS lookup, within the delivery's deadline; a name that does not resolve fails like a connection. */
  private resolve(url: string, timeoutMs: number): ReturnType<WebhookDestinations['resolve']> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PostError('timeout')), timeoutMs);
    });
    const lookup = this.destinations.resolve(url).catch((err: unknown) => {
      throw err instanceof PostError ? err : new PostError('connection');
    });
    return Promise.race([lookup, deadline]).finally(() => clearTimeout(timer));
  }

  auditEvent(row: OutboxRow, outcome: Outcome) {
    if (outcome.ok) return { type: 'webhook.delivered', data: { outboxId: row.id, attempt: row.attempts, statusCode: outcome.statusCode } };
    // the host only: the URL's path or query may carry a token
    if (outcome.refusal) return { type: 'webhook.refused', data: { outboxId: row.id, attempts: row.attempts, reason: outcome.refusal.reason, host: outcome.refusal.host } };
    return { type: 'webhook.failed', data: { outboxId: row.id, attempts: row.attempts, error: outcome.error } };
  }
}
