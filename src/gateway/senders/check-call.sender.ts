import { Injectable } from '@nestjs/common';
import { EventBus } from '../../common/events';
import type { Tx } from '../../common/tx';
import { CheckCallPayload, Failure, Outcome, OutboxBox, OutboxRow, OutboxSender } from '../outbox.types';
import { CallNotPlaced, ProviderError } from '../ports';
import { TEST_PROVIDER } from '../test-numbers';
import { VoiceCallsService } from '../voice-calls.service';

/**
 * Voice-contract check calls (outbox kind `check_call`): places the IVR call through the VoiceGateway. What the
 * call finds comes later through the provider's callbacks (`call.completed`); a call the provider would not
 * place at all ends here: a number it says cannot exist at once (`unallocated`), a routing failure once the
 * retries are spent (`route_error`), each published as the `call.completed` of a call that never rang.
 */
@Injectable()
export class CheckCallSender implements OutboxSender {
  readonly kinds = ['check_call'] as const;
  readonly backoffSeconds = [5, 15, 30];

  constructor(
    private readonly box: OutboxBox,
    private readonly events: EventBus,
    private readonly calls: VoiceCallsService,
  ) {}

  async send(row: OutboxRow & { payload: Buffer }): Promise<Outcome> {
    const call = this.box.open<CheckCallPayload>(row.payload);
    const scripted = call.test;
    if (scripted) {
      // A test number: no provider is called; the call "ends" as scripted once this row is recorded done.
      const placed = await this.calls.placeTestCall(call);
      return { ok: true, accepted: { provider: placed.provider, providerMessageId: placed.callId }, to: call.to, followUp: () => this.calls.playScripted(placed.callId, call.reference, scripted) };
    }
    try {
      const placed = await this.calls.placeCheckCall(call);
      return { ok: true, accepted: { provider: placed.provider, providerMessageId: placed.callId }, to: call.to };
    } catch (err) {
      if (err instanceof ProviderError) {
        const callOutcome = err instanceof CallNotPlaced ? err.outcome : 'route_error';
        return { ok: false, error: err.message, retryable: err.retryable, statusCode: err.statusCode, provider: err.provider, to: call.to, callOutcome };
      }
      throw err; // the dispatcher records it as a retryable internal error
    }
  }

  /** voice_check.call_placed / voice_check.call_failed, with the number (hashed and masked by the audit service). */
  auditEvent(row: OutboxRow, outcome: Outcome) {
    const phoneNumber = outcome.to ?? null;
    if (outcome.ok) {
      const provider = outcome.accepted?.provider ?? null;
      const test = provider === TEST_PROVIDER ? { test: true } : {};
      return { type: 'voice_check.call_placed', phoneNumber, data: { outboxId: row.id, provider, callId: outcome.accepted?.providerMessageId ?? null, attempt: row.attempts, ...test } };
    }
    return { type: 'voice_check.call_failed', phoneNumber, data: { outboxId: row.id, attempts: row.attempts, error: outcome.error, provider: outcome.provider ?? null, outcome: outcome.callOutcome ?? 'route_error' } };
  }

  async onGivenUp(tx: Tx, row: OutboxRow & { payload: Buffer | null }, now: Date, outcome: Failure): Promise<void> {
    if (!row.payload) return;
    const { reference } = this.box.open<CheckCallPayload>(row.payload);
    await this.events.publish(tx, 'call.completed', {
      provider: outcome.provider ?? 'unknown',
      callId: null,
      reference,
      outcome: { kind: outcome.callOutcome ?? 'route_error' },
      sipResponseCode: null,
      at: now,
    });
  }
}
