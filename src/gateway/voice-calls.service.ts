import { Inject, Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { CallOutcome, EventBus } from '../common/events';
import { ulid } from '../common/ids';
import { Transactions } from '../database/transactions';
import { CallPlaced, CheckCall, VOICE_GATEWAY, VoiceGateway } from './ports';
import { VoiceCallChange, VoiceCallRow, VoiceCallsRepository } from './voice-calls.repository';
import { AnsweredBy, CALL_STATUS_ORDER, CallEnd, CallStep } from './voice-calls.types';
import { scriptedCallSteps, TEST_PROVIDER } from './test-numbers';

/** What became of one callback: `applied` moved the call forward; `ignored` was a duplicate or came too late. */
export type StepResult = 'applied' | 'ignored';

/**
 * IVR check calls: places them through the VoiceGateway and follows them through the steps the provider's
 * verified callbacks report (each provider's folder turns its callbacks into CallSteps). A call only moves
 * forward; each forward step publishes `call.progressed`, the end publishes `call.completed` once, with the
 * provider-neutral outcome, inside the transaction that records it.
 */
@Injectable()
export class VoiceCallsService {
  private readonly logger = new Logger(VoiceCallsService.name);

  constructor(
    @Inject(VOICE_GATEWAY) private readonly voice: VoiceGateway,
    private readonly calls: VoiceCallsRepository,
    private readonly transactions: Transactions,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {}

  /** Places the call; throws CallNotPlaced (with what it means for the number) when the provider refuses it. */
  async placeCheckCall(call: CheckCall): Promise<CallPlaced> {
    const placed = await this.voice.placeCheckCall(call);
    // The call is placed: failing to write that down must not fail the send, or the outbox would place it again (and
    // again, up to its attempts: a person called several times, each call billed). The outbox attempt records the
    // call id, and the call's first callback creates its record if this did not.
    await this.calls.recordPlaced(placed.provider, placed.callId, call.reference, this.clock.now()).catch((err: Error) => {
      this.logger.warn({ err, provider: placed.provider, callId: placed.callId }, 'IVR check call placed, but its record was not written: its first callback writes it');
    });
    return placed;
  }

  /** A test number's check call: recorded as placed by the `test` provider, which calls nobody. */
  async placeTestCall(call: CheckCall): Promise<CallPlaced> {
    const placed = { provider: TEST_PROVIDER, callId: `test_${ulid()}` };
    await this.calls.recordPlaced(placed.provider, placed.callId, call.reference, this.clock.now());
    return placed;
  }

  /** Plays a test call's script: the steps its callbacks would report, each applied as a verified callback's is. */
  async playScripted(callId: string, reference: string, outcome: CallOutcome): Promise<void> {
    for (const step of scriptedCallSteps(outcome)) await this.record(TEST_PROVIDER, callId, reference, step);
  }

  /**
   * Someone called the service's number (a verified inbound-call callback): published as `call.inbound` in its own
   * transaction; answers whether a subscriber expected the call (an inbound voice-contract check matched it).
   */
  async recordInbound(provider: string, callId: string, from: string | null, to: string): Promise<boolean> {
    const matched = { value: false };
    await this.transactions.run((tx) => this.events.publish(tx, 'call.inbound', { provider, callId, from, to, at: this.clock.now(), matched }));
    this.logger.log({ provider, callId, withheld: from === null, matched: matched.value }, 'inbound call');
    return matched.value;
  }

  find(provider: string, callId: string): Promise<VoiceCallRow | null> {
    return this.calls.find(provider, callId);
  }

  /** Applies one verified callback's step to the call (created here when the callback beat the create-call answer). */
  async record(provider: string, callId: string, reference: string | null, step: CallStep): Promise<StepResult> {
    return this.transactions.run(async (tx) => {
      const now = this.clock.now();
      const row = await this.calls.lockOrCreate(tx, provider, callId, reference, now);
      const change = nextState(row, step);
      if (!change || !(await this.calls.update(tx, provider, callId, change, now))) return 'ignored';
      const base = { provider, callId, reference: row.reference, at: now };
      if (change.status === 'ended') {
        const outcome: CallOutcome = change.outcome === 'key_pressed' ? { kind: 'key_pressed', digits: change.digits as string } : { kind: change.outcome as Exclude<CallOutcome['kind'], 'key_pressed'> };
        await this.events.publish(tx, 'call.completed', Object.assign({}, base, { outcome, sipResponseCode: change.sipResponseCode }));
        this.logger.log({ provider, callId, reference: row.reference, outcome: outcome.kind, sipResponseCode: change.sipResponseCode }, 'IVR check call ended');
      } else if (row.status !== change.status || row.digits !== change.digits) {
        await this.events.publish(tx, 'call.progressed', Object.assign({}, base, { status: change.status, digits: change.digits !== row.digits ? change.digits : null }));
      }
      return 'applied';
    });
  }
}

const rank = (status: VoiceCallRow['status']) => CALL_STATUS_ORDER.indexOf(status);

/** The call after `step`, or null when the step changes nothing (a duplicate, or news older than what the call knows). */
export function nextState(row: VoiceCallRow, step: CallStep): VoiceCallChange | null {
  if (row.status === 'ended') return null;
  const current: VoiceCallChange = { status: row.status, answeredBy: row.answeredBy, digits: row.digits, outcome: null, sipResponseCode: row.sipResponseCode, sequence: null };
  if (step.kind === 'key') {
    // The first keys count; a replayed or second <Gather> result does not replace them. A key means answered.
    if (row.digits !== null) return null;
    return Object.assign({}, current, { status: rank(row.status) < rank('answered') ? 'answered' : row.status, digits: step.digits });
  }
  // Once an answering machine was detected the call stays a machine's, whatever a later callback says.
  const answeredBy: AnsweredBy | null = row.answeredBy === 'machine' ? 'machine' : (step.answeredBy ?? row.answeredBy);
  if (rank(step.status) < rank(row.status)) return null;
  if (rank(step.status) === rank(row.status) && answeredBy === row.answeredBy) return null;
  const change: VoiceCallChange = Object.assign({}, current, { status: step.status, answeredBy, sipResponseCode: step.sipResponseCode ?? row.sipResponseCode, sequence: step.sequence });
  if (step.status === 'ended') change.outcome = outcomeOf(step.end ?? 'route_error', row.digits, answeredBy);
  return change;
}

/** An answered call confirms nothing by itself: a machine is voicemail, a person who pressed nothing is no_key. */
function outcomeOf(end: CallEnd, digits: string | null, answeredBy: AnsweredBy | null): VoiceCallChange['outcome'] {
  if (end !== 'answered') return end;
  if (answeredBy === 'machine') return 'voicemail';
  return digits !== null ? 'key_pressed' : 'no_key';
}
