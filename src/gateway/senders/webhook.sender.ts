import { Injectable } from '@nestjs/common';
import { Webhook } from 'standardwebhooks';
import { AuditService } from '../../audit/audit.service';
import { Clock } from '../../common/clock';
import { createAgents, httpPost, PostError } from '../../common/http-post';
import type { Tx } from '../../common/tx';
import { WebhookDestinations } from '../../common/webhook-destinations';
import { WebhookTargets } from '../../common/webhook-targets';
import { AppConfig } from '../../config/app-config';
import { Transactions } from '../../database/transactions';
import { Failure, Outcome, OutboxBox, OutboxRow, OutboxSender, WebhookPayload } from '../outbox.types';

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
  /** 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, then every 12 h: the last of 12 tries about 2.7 days after the first. */
  readonly backoffSeconds = [5, 60, 300, 1800, 7200, 18000, 36000, 43200];
  /** Webhook connections are pooled apart from provider calls. */
  private readonly agents = createAgents();

  constructor(
    private readonly box: OutboxBox,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly destinations: WebhookDestinations,
    private readonly targets: WebhookTargets,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
  ) {}

  async send(row: OutboxRow & { payload: Buffer }): Promise<Outcome> {
    let test = false;
    try {
      const p = this.box.open<WebhookPayload>(row.payload);
      test = isAboutTestNumber(p.body);
      const outcome = await this.deliver(row, p);
      return test ? Object.assign({}, outcome, { test }) : outcome;
    } catch (err) {
      if (!(err instanceof PostError)) throw err; // e.g. a payload sealed with a key no longer configured: the dispatcher records it
      const timeoutMs = this.config.gateway.webhookTimeoutMs;
      const failed: Outcome = { ok: false, error: err.reason === 'timeout' ? `timed out after ${timeoutMs} ms` : 'connection failed', retryable: true };
      return test ? Object.assign({}, failed, { test }) : failed;
    }
  }

  private async deliver(row: OutboxRow, p: WebhookPayload): Promise<Outcome> {
    const timeoutMs = this.config.gateway.webhookTimeoutMs;
    // on the monotonic clock: a wall clock stepped back must not stretch the request past the row's lease
    const deadline = performance.now() + timeoutMs;
    const destination = await this.resolve(p.url, timeoutMs);
    if (!destination.ok) {
      const { reason, host } = destination.refusal;
      return { ok: false, error: `destination refused: ${reason}`, retryable: false, refusal: { reason, host } };
    }
    const target = row.client_id ? await this.targets.webhookTargetOf(this.transactions.reader, row.client_id, this.clock.now()) : undefined;
    if (target?.disabledAt && target.url === p.url) {
      return { ok: false, error: 'endpoint disabled (it answered 410 Gone); an admin can enable it again', retryable: false };
    }
    const secrets = target?.secrets ?? (p.secret ? [p.secret] : []);
    if (!secrets.length) return { ok: false, error: 'no signing secret: the client no longer exists', retryable: false };
    const headers = { 'content-type': 'application/json', 'user-agent': 'otp-verify-webhooks/1', ...signedHeaders(secrets, p.eventId, this.clock.now(), p.body) };
    const res = await httpPost(destination.url.toString(), headers, p.body, Math.max(1, Math.round(deadline - performance.now())), {
      address: destination.address,
      maxBodyBytes: WEBHOOK_MAX_RESPONSE_BYTES,
      agents: this.agents,
    });
    if (res.status >= 200 && res.status < 300) return { ok: true, statusCode: res.status };
    if (res.status === 410) return { ok: false, error: 'HTTP 410 (Gone): not retried', retryable: false, statusCode: 410 };
    const error = res.status >= 300 && res.status < 400 ? `HTTP ${res.status} (redirects are not followed)` : `HTTP ${res.status}`;
    return { ok: false, error, retryable: true, statusCode: res.status };
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

  /**
   * A 410 Gone from the client's own URL (not a per-verification callbackUrl) disables that endpoint, audited,
   * until an admin enables it again (POST /v1/admin/clients/{id}/webhook-endpoint:enable).
   */
  async onGivenUp(tx: Tx, row: OutboxRow & { payload: Buffer | null }, now: Date, outcome: Failure): Promise<void> {
    if (outcome.statusCode !== 410 || !row.client_id || !row.payload) return;
    const { url } = this.box.open<WebhookPayload>(row.payload);
    if (!(await this.targets.disableEndpoint(tx, row.client_id, url, now))) return;
    await this.audit.record(tx, {
      type: 'client.webhook_disabled',
      actor: { type: 'system', id: 'dispatcher' },
      clientId: row.client_id,
      verificationId: row.verification_id,
      data: { outboxId: row.id, host: hostOf(url), reason: 'HTTP 410 Gone' },
    });
  }

  auditEvent(row: OutboxRow, outcome: Outcome) {
    const test = outcome.test ? { test: true } : {};
    if (outcome.ok) return { type: 'webhook.delivered', data: { outboxId: row.id, attempt: row.attempts, statusCode: outcome.statusCode, ...test } };
    // the host only: the URL's path or query may carry a token
    if (outcome.refusal) return { type: 'webhook.refused', data: { outboxId: row.id, attempts: row.attempts, reason: outcome.refusal.reason, host: outcome.refusal.host, ...test } };
    return { type: 'webhook.failed', data: { outboxId: row.id, attempts: row.attempts, error: outcome.error, ...test } };
  }
}

/** Whether a webhook's body is about a test number's verification (`data.test: true`, API verification object). */
function isAboutTestNumber(body: string): boolean {
  try {
    return (JSON.parse(body) as { data?: { test?: unknown } } | null)?.data?.test === true;
  } catch {
    return false;
  }
}

/**
 * The Standard Webhooks headers (API.md, Webhooks), signed with the official library: `webhook-signature` holds
 * one `v1,<base64>` per secret, space-separated (two during a rotation overlap).
 */
export function signedHeaders(secrets: string[], eventId: string, at: Date, body: string): Record<string, string> {
  const timestamp = new Date(Math.floor(at.getTime() / 1000) * 1000);
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(timestamp.getTime() / 1000),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(eventId, timestamp, body)).join(' '),
  };
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}
