import { createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { httpPost, PostError } from '../../common/http-post';
import { AppConfig } from '../../config/app-config';
import { Outcome, OutboxBox, OutboxRow, OutboxSender, WebhookPayload } from '../outbox.types';

/** Result webhooks to the calling services, signed with the client's webhook secret. */
@Injectable()
export class WebhookSender implements OutboxSender {
  readonly kinds = ['webhook'] as const;
  readonly backoffSeconds = [10, 60, 300, 900, 1800, 3600, 7200, 14400];

  constructor(
    private readonly box: OutboxBox,
    private readonly clock: Clock,
    private readonly config: AppConfig,
  ) {}

  async send(row: OutboxRow & { payload: Buffer }): Promise<Outcome> {
    const timeoutMs = this.config.gateway.webhookTimeoutMs;
    try {
      const p = this.box.open<WebhookPayload>(row.payload);
      const t = Math.floor(this.clock.now().getTime() / 1000);
      const signature = createHmac('sha256', p.secret).update(`${t}.${p.body}`).digest('hex');
      const headers = { 'content-type': 'application/json', 'user-agent': 'otp-verify-webhooks/1', 'webhook-id': p.eventId, signature: `t=${t},v1=${signature}` };
      const res = await httpPost(p.url, headers, p.body, timeoutMs);
      return res.status >= 200 && res.status < 300 ? { ok: true, statusCode: res.status } : { ok: false, error: `HTTP ${res.status}`, retryable: true, statusCode: res.status };
    } catch (err) {
      if (!(err instanceof PostError)) throw err; // e.g. a payload sealed with a key no longer configured: the dispatcher records it
      return { ok: false, error: err.reason === 'timeout' ? `timed out after ${timeoutMs} ms` : 'connection failed', retryable: true };
    }
  }

  auditEvent(row: OutboxRow, outcome: Outcome) {
    return outcome.ok
      ? { type: 'webhook.delivered', data: { outboxId: row.id, attempt: row.attempts, statusCode: outcome.statusCode } }
      : { type: 'webhook.failed', data: { outboxId: row.id, attempts: row.attempts, error: outcome.error } };
  }
}
