import { callIdOf, stepOfCallEvent, stepOfInput } from './vonage-calls.mapping';
import { checkCallNcco, closingNcco } from './vonage-ncco';

const UUID = '63f61863-4a51-4f6b-86e1-46edebcf9356';

describe('Vonage call webhooks → neutral steps', () => {
  it.each([
    ['started', undefined, 'queued', null, null],
    ['ringing', undefined, 'ringing', null, null],
    ['answered', undefined, 'answered', null, null],
    ['human', undefined, 'answered', null, 'human'],
    ['machine', undefined, 'answered', null, 'machine'],
    ['completed', undefined, 'ended', 'answered', null],
    ['busy', undefined, 'ended', 'busy', null],
    ['cancelled', undefined, 'ended', 'no_answer', null],
    ['timeout', undefined, 'ended', 'no_answer', null],
    ['unanswered', undefined, 'ended', 'no_answer', null],
    ['unanswered', 'unavailable', 'ended', 'unavailable', null],
    ['unanswered', 'carrier_timeout', 'ended', 'no_answer', null],
    ['rejected', 'invalid_number', 'ended', 'unallocated', null],
    ['rejected', 'restricted', 'ended', 'rejected', null],
    ['rejected', 'declined', 'ended', 'rejected', null],
    ['rejected', undefined, 'ended', 'rejected', null],
    ['failed', 'number_out_of_service', 'ended', 'out_of_service', null],
    ['failed', 'invalid_number', 'ended', 'unallocated', null],
    ['failed', 'cannot_route', 'ended', 'route_error', null],
    ['failed', 'internal_error', 'ended', 'route_error', null],
    ['failed', 'something_new', 'ended', 'route_error', null],
    ['failed', undefined, 'ended', 'route_error', null],
  ])('status %s, detail %s → %s / %s (answered by %s)', (status, detail, ours, end, answeredBy) => {
    expect(stepOfCallEvent({ uuid: UUID, status, ...(detail ? { detail } : {}), timestamp: '2026-12-01T12:00:00.000Z' })).toEqual({
      kind: 'status', status: ours, end, answeredBy, sequence: null, sipResponseCode: null,
    });
  });

  it('a detail only changes the end of a call that ended unanswered, rejected or failed; unknown statuses are no step', () => {
    expect(stepOfCallEvent({ status: 'completed', detail: 'invalid_number' })).toMatchObject({ end: 'answered' });
    expect(stepOfCallEvent({ status: 'busy', detail: 'number_out_of_service' })).toMatchObject({ end: 'busy' });
    expect(stepOfCallEvent({ status: 'transfer' })).toBeNull();
    expect(stepOfCallEvent({ status: 'toString' })).toBeNull();
    expect(stepOfCallEvent({ status: 'failed', detail: 'toString' })).toMatchObject({ end: 'route_error' });
    expect(stepOfCallEvent({})).toBeNull();
  });

  it('the call id: uuid, or call_uuid on machine-detection events; anything else is none', () => {
    expect(callIdOf({ uuid: UUID })).toBe(UUID);
    expect(callIdOf({ call_uuid: UUID, status: 'machine' })).toBe(UUID);
    expect(callIdOf({ uuid: 'CA123' })).toBeNull();
    expect(callIdOf({ conversation_uuid: 'CON-' + UUID })).toBeNull();
  });

  it('the input webhook is a key step only with keys: timed out or empty is none', () => {
    expect(stepOfInput({ uuid: UUID, dtmf: { digits: '1', timed_out: false } })).toEqual({ kind: 'key', digits: '1' });
    expect(stepOfInput({ uuid: UUID, dtmf: { digits: '7', timed_out: false } })).toEqual({ kind: 'key', digits: '7' });
    expect(stepOfInput({ uuid: UUID, dtmf: { digits: '', timed_out: true } })).toBeNull();
    expect(stepOfInput({ uuid: UUID, dtmf: { timed_out: true } })).toBeNull();
    expect(stepOfInput({ uuid: UUID, dtmf: '1', timed_out: false })).toEqual({ kind: 'key', digits: '1' });
    expect(stepOfInput({ uuid: UUID, dtmf: { digits: '<1>' } })).toBeNull();
    expect(stepOfInput({ uuid: UUID })).toBeNull();
  });

  it('the check call NCCO: the prompt in the locale, then one DTMF key posted to our input URL; the closing NCCO says goodbye', () => {
    const ncco = checkCallNcco('Press 1.', 'en', 'https://x.example/v1/callbacks/vonage/calls?ref=vck_1&lang=en&step=input');
    expect(ncco).toEqual([
      { action: 'talk', text: 'Press 1.', language: 'en-US', loop: 2, bargeIn: true },
      { action: 'input', type: ['dtmf'], dtmf: { maxDigits: 1, timeOut: 8, submitOnHash: false }, eventUrl: ['https://x.example/v1/callbacks/vonage/calls?ref=vck_1&lang=en&step=input'], eventMethod: 'POST' },
    ]);
    expect(checkCallNcco('1を押してください。', 'ja', 'u')[0]).toMatchObject({ language: 'ja-JP' });
    expect(closingNcco('ja')).toEqual([{ action: 'talk', text: 'ありがとうございました。失礼いたします。', language: 'ja-JP' }]);
  });
});
