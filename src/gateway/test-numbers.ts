import type { CallOutcome } from '../common/events';
import type { CallStep } from './voice-calls.types';

/**
 * Test numbers (sandbox): their code messages and check calls are "sent" by this pseudo-provider, which calls nobody.
 * What a real provider's signed callbacks would report comes from the script the row carries, through the same
 * receipt and call services real callbacks go through, so every step after the provider is the real one.
 */
export const TEST_PROVIDER = 'test';

/** The callbacks a provider would send for a call that ends with `outcome`, as provider-neutral steps, in order. */
export function scriptedCallSteps(outcome: CallOutcome): CallStep[] {
  const status = (s: Extract<CallStep, { kind: 'status' }>['status'], extra: Partial<Extract<CallStep, { kind: 'status' }>> = {}): CallStep => ({
    kind: 'status', status: s, sequence: null, answeredBy: null, end: null, sipResponseCode: null, ...extra,
  });
  switch (outcome.kind) {
    case 'key_pressed':
      return [status('ringing'), status('answered', { answeredBy: 'human' }), { kind: 'key', digits: outcome.digits }, status('ended', { end: 'answered', sipResponseCode: 200 })];
    case 'no_key':
      return [status('ringing'), status('answered', { answeredBy: 'human' }), status('ended', { end: 'answered', sipResponseCode: 200 })];
    case 'voicemail':
      return [status('ringing'), status('answered', { answeredBy: 'machine' }), status('ended', { end: 'answered', sipResponseCode: 200 })];
    case 'busy':
      return [status('ended', { end: 'busy', sipResponseCode: 486 })];
    case 'no_answer':
      return [status('ringing'), status('ended', { end: 'no_answer', sipResponseCode: 480 })];
    case 'unallocated':
      return [status('ended', { end: 'unallocated', sipResponseCode: 404 })];
    default:
      return [status('ended', { end: outcome.kind, sipResponseCode: null })];
  }
}
