import { judgeCall } from './voice-check-outcomes';

describe('judgeCall: what one ended check call means', () => {
  it('only the expected key confirms, first call or last', () => {
    expect(judgeCall([], { kind: 'key_pressed', digits: '1' }, '1', 2)).toEqual({ kind: 'decide', status: 'confirmed' });
    expect(judgeCall(['no_answer', 'busy'], { kind: 'key_pressed', digits: '1#' }, '1', 2)).toEqual({ kind: 'decide', status: 'confirmed' });
  });

  it('a wrong key is no confirmation: retried, then unknown', () => {
    expect(judgeCall([], { kind: 'key_pressed', digits: '2' }, '1', 2)).toEqual({ kind: 'retry' });
    expect(judgeCall(['key_pressed', 'no_key'], { kind: 'key_pressed', digits: '9' }, '1', 2)).toEqual({ kind: 'decide', status: 'unknown' });
  });

  it.each(['no_key', 'voicemail', 'busy', 'no_answer', 'unavailable', 'rejected', 'route_error'] as const)('%s is retried `retries` times, then unknown', (kind) => {
    expect(judgeCall([], { kind }, '1', 2)).toEqual({ kind: 'retry' });
    expect(judgeCall(['busy'], { kind }, '1', 2)).toEqual({ kind: 'retry' });
    expect(judgeCall(['busy', 'no_answer'], { kind }, '1', 2)).toEqual({ kind: 'decide', status: 'unknown' });
    expect(judgeCall([], { kind }, '1', 0)).toEqual({ kind: 'decide', status: 'unknown' });
  });

  it.each(['unallocated', 'out_of_service'] as const)('%s is absent only after one confirming call, even with no retries', (kind) => {
    expect(judgeCall([], { kind }, '1', 0)).toEqual({ kind: 'retry' });
    expect(judgeCall(['unallocated'], { kind }, '1', 0)).toEqual({ kind: 'decide', status: 'absent' });
    expect(judgeCall(['no_answer', 'out_of_service'], { kind }, '1', 2)).toEqual({ kind: 'decide', status: 'absent' });
  });

  it('an absent answer after calls that found nothing still needs its own confirmation, and does not use up the retries', () => {
    expect(judgeCall(['no_answer'], { kind: 'unallocated' }, '1', 1)).toEqual({ kind: 'retry' });
    expect(judgeCall(['unallocated'], { kind: 'no_answer' }, '1', 1)).toEqual({ kind: 'retry' });
    expect(judgeCall(['unallocated', 'no_answer'], { kind: 'no_answer' }, '1', 1)).toEqual({ kind: 'decide', status: 'unknown' });
  });
});
