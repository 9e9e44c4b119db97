import type { CallOutcome } from '../common/events';
import { scriptedCallSteps } from './test-numbers';
import { nextState } from './voice-calls.service';
import type { VoiceCallRow } from './voice-calls.repository';

/** Plays the steps through the same state machine real callbacks go through; the outcome the call ends with. */
function play(outcome: CallOutcome): { outcome: string | null; digits: string | null } {
  let row: VoiceCallRow = { provider: 'test', callId: 'test_1', reference: 'vck_1', status: 'queued', answeredBy: null, digits: null, outcome: null, sipResponseCode: null, sequence: null, updatedAt: new Date() };
  for (const step of scriptedCallSteps(outcome)) {
    const change = nextState(row, step);
    expect(change).not.toBeNull(); // every step moves the call forward: none is dropped as a duplicate
    row = { ...row, ...change! };
  }
  expect(row.status).toBe('ended');
  return { outcome: row.outcome, digits: row.digits };
}

describe('scriptedCallSteps: a test number\'s call ends as scripted', () => {
  it.each(['voicemail', 'busy', 'no_answer', 'unallocated', 'no_key'] as const)('%s', (kind) => {
    expect(play({ kind })).toEqual({ outcome: kind, digits: null });
  });

  it('key_pressed carries the key', () => {
    expect(play({ kind: 'key_pressed', digits: '1' })).toEqual({ outcome: 'key_pressed', digits: '1' });
  });
});
