import { Inject, Injectable } from '@nestjs/common';
import { decorrelatedJitterGenerator, ExponentialBackoff } from 'cockatiel';
import { Clock } from '../../common/clock';
import { EventBus } from '../../common/events';
import type { Tx } from '../../common/tx';
import { DeliveryReceipts } from '../delivery-receipts.service';
import { GatewayMetrics } from '../gateway.metrics';
import { TEST_PROVIDER } from '../test-numbers';
import { Failure, MessagePayload, Outcome, OutboxBox, OutboxRow, OutboxSender } from '../outbox.types';
import { ProviderError, SMS_GATEWAY, SmsGateway, VOICE_GATEWAY, VoiceGateway } from '../ports';

/**
 * Code messages: SMS through the SmsGateway, voice through the VoiceGateway (both routed over the configured
 * providers, with failover inside one try). A try that found no provider is retried after a jittered,
 * growing wait (cockatiel's exponential backoff with decorrelated jitter, from 2 s to 60 s), or after the
 * providers' Retry-After when every one of them asked for it.
 */
@Injectable()
export class MessageSender implements OutboxSender {
  readonly kinds = ['sms', 'voice'] as const;
  /** Not used while retryDelayMs is (kept as the OutboxSender contract's fallback). */
  readonly backoffSeconds = [2, 5, 15, 30, 60];
  private readonly backoff = new ExponentialBackoff({ initialDelay: 2000, maxDelay: 60000, generator: decorrelatedJitterGenerator });

  constructor(
    private readonly box: OutboxBox,
    private readonly events: EventBus,
    private readonly clock: Clock,
    private readonly metrics: GatewayMetrics,
    @Inject(SMS_GATEWAY) private readonly sms: SmsGateway,
    @Inject(VOICE_GATEWAY) private readonly voice: VoiceGateway,
    private readonly receipts: DeliveryReceipts,
  ) {}

  retryDelayMs(attempt: number, outcome: Failure): number {
    let step = this.backoff.next();
    for (let i = 1; i < attempt; i++) step = step.next(undefined);
    return Math.max(step.duration, outcome.retryAfterMs ?? 0);
  }

  async send(row: OutboxRow & { payload: Buffer }): Promise<Outcome> {
    const msg = this.box.open<MessagePayload>(row.payload); // throws: the dispatcher records a retryable internal error
    const { to } = msg;
    if (msg.test) return this.sendTest(row, msg as MessagePayload & Required<Pick<MessagePayload, 'test'>>);
    try {
      const accepted =
        row.kind === 'sms'
          ? await this.sms.send({ to, body: msg.body, reference: row.id, clientId: row.client_id })
          : await this.voice.call({ to, speech: msg.body, locale: msg.locale, reference: row.id, clientId: row.client_id });
      if (row.created_at && !accepted.unknown) {
        this.metrics.acceptDelay.observe({ provider: accepted.provider, channel: row.kind }, Math.max(0, this.clock.now().getTime() - row.created_at.getTime()) / 1000);
      }
      return { ok: true, accepted, to };
    } catch (err) {
      if (err instanceof ProviderError) {
        return { ok: false, error: err.message, retryable: err.retryable, statusCode: err.statusCode, provider: err.provider, to, legs: err.legs, retryAfterMs: err.retryAfterMs };
      }
      throw err; // the dispatcher records it as a retryable internal error
    }
  }

  /**
   * A test number's message: no provider is called. `failed` is a permanent failure (no provider could deliver: the
   * verification fails); `delivered` / `undelivered` come as the `test` provider's receipt once the row is recorded done.
   */
  private sendTest(row: OutboxRow, msg: MessagePayload & Required<Pick<MessagePayload, 'test'>>): Outcome {
    const { to } = msg;
    const status = msg.test.deliveryStatus;
    if (status === 'failed') return { ok: false, error: 'test number: scripted delivery failure (no provider was called)', retryable: false, provider: TEST_PROVIDER, to };
    const providerMessageId = `test_${row.id}`;
    const followUp = status ? () => this.receipts.record({ provider: TEST_PROVIDER, outboxId: row.id, providerMessageId, status, errorCode: null }) : undefined;
    return { ok: true, accepted: { provider: TEST_PROVIDER, providerMessageId }, to, followUp };
  }

  /** message.sent / message.failed, with the number (hashed and masked by the audit service) so a search by phone number finds them. */
  auditEvent(row: OutboxRow, outcome: Outcome) {
    const phoneNumber = outcome.to ?? null;
    if (outcome.ok) {
      const provider = outcome.accepted?.provider ?? null;
      return {
        type: 'message.sent',
        phoneNumber,
        data: {
          outboxId: row.id,
          channel: row.kind,
          provider,
          providerMessageId: outcome.accepted?.providerMessageId ?? null,
          attempt: row.attempts,
          segments: row.segments,
          // Each provider tried, in order, with what became of it (no number, no text).
          ...(outcome.accepted?.legs ? { route: outcome.accepted.legs.map((l) => ({ provider: l.provider, outcome: l.outcome })) } : {}),
          ...(outcome.accepted?.unknown ? { acceptance: 'unknown' } : {}),
          ...(provider === TEST_PROVIDER ? { test: true } : {}),
        },
      };
    }
    const route = outcome.legs ? { route: outcome.legs.map((l) => ({ provider: l.provider, outcome: l.outcome })) } : {};
    const test = outcome.provider === TEST_PROVIDER ? { test: true } : {};
    return { type: 'message.failed', phoneNumber, data: { outboxId: row.id, attempts: row.attempts, error: outcome.error, channel: row.kind, provider: outcome.provider ?? null, ...route, ...test } };
  }

  /** No provider could deliver the code: whoever owns the verification decides what that means. */
  async onGivenUp(tx: Tx, row: OutboxRow, now: Date): Promise<void> {
    if (!row.verification_id) return;
    await this.events.publish(tx, 'message.failed', { outboxId: row.id, verificationId: row.verification_id, clientId: row.client_id, channel: row.kind as 'sms' | 'voice', at: now });
  }
}
