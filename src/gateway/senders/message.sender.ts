import { Inject, Injectable } from '@nestjs/common';
import { EventBus } from '../../common/events';
import type { Tx } from '../../common/tx';
import { MessagePayload, Outcome, OutboxBox, OutboxRow, OutboxSender } from '../outbox.types';
import { ProviderError, SMS_GATEWAY, SmsGateway, VOICE_GATEWAY, VoiceGateway } from '../ports';

/** Code messages: SMS through the SmsGateway, voice through the VoiceGateway. */
@Injectable()
export class MessageSender implements OutboxSender {
  readonly kinds = ['sms', 'voice'] as const;
  readonly backoffSeconds = [2, 5, 15, 30, 60];

  constructor(
    private readonly box: OutboxBox,
    private readonly events: EventBus,
    @Inject(SMS_GATEWAY) private readonly sms: SmsGateway,
    @Inject(VOICE_GATEWAY) private readonly voice: VoiceGateway,
  ) {}

  async send(row: OutboxRow & { payload: Buffer }): Promise<Outcome> {
    const msg = this.box.open<MessagePayload>(row.payload); // throws: the dispatcher records a retryable internal error
    const { to } = msg;
    try {
      const accepted =
        row.kind === 'sms'
          ? await this.sms.send({ to, body: msg.body, reference: row.id, clientId: row.client_id })
          : await this.voice.call({ to, speech: msg.body, locale: msg.locale, reference: row.id, clientId: row.client_id });
      return { ok: true, accepted, to };
    } catch (err) {
      if (err instanceof ProviderError) return { ok: false, error: err.message, retryable: err.retryable, statusCode: err.statusCode, provider: err.provider, to };
      throw err; // the dispatcher records it as a retryable internal error
    }
  }

  /** message.sent / message.failed, with the number (hashed and masked by the audit service) so a search by phone number finds them. */
  auditEvent(row: OutboxRow, outcome: Outcome) {
    const phoneNumber = outcome.to ?? null;
    if (outcome.ok) {
      const provider = outcome.accepted?.provider ?? null;
      return {
        type: 'message.sent',
        phoneNumber,
        data: { outboxId: row.id, channel: row.kind, provider, providerMessageId: outcome.accepted?.providerMessageId ?? null, attempt: row.attempts, segments: row.segments },
      };
    }
    return { type: 'message.failed', phoneNumber, data: { outboxId: row.id, attempts: row.attempts, error: outcome.error, channel: row.kind, provider: outcome.provider ?? null } };
  }

  /** No provider could deliver the code: whoever owns the verification decides what that means. */
  async onGivenUp(tx: Tx, row: OutboxRow, now: Date): Promise<void> {
    if (!row.verification_id) return;
    await this.events.publish(tx, 'message.failed', { outboxId: row.id, verificationId: row.verification_id, clientId: row.client_id, channel: row.kind as 'sms' | 'voice', at: now });
  }
}
