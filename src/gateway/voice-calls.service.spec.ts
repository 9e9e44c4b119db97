import { VoiceCallRow } from './voice-calls.repository';
import { nextState } from './voice-calls.service';
import { CallStep } from './voice-calls.types';

const row = (over: Partial<VoiceCallRow> = {}): VoiceCallRow => ({
  provider: 'twilio', callId: 'CA1', reference: 'ref', status: 'queued', answeredBy: null, digits: null, outcome: null, sipResponseCode: null, sequence: null, updatedAt: new Date(), ...over,
});
const status = (s: Extract<CallStep, { kind: 'status' }>['status'], over: Partial<Extract<CallStep, { kind: 'status' }>> = {}): CallStep => ({
  kind: 'status', status: s, sequence: null, answeredBy: null, end: s === 'ended' ? 'answered' : null, sipResponseCode: null, ...over,
});

describe('nextState: a call only moves forward', () => {
  it('moves forward through queued → ringing → answered → ended', () => {
    expect(nextState(row(), status('ringing'))).toMatchObject({ status: 'ringing' });
    expect(nextState(row({ status: 'ringing' }), status('answered', { answeredBy: 'human' }))).toMatchObject({ status: 'answered', answeredBy: 'human' });
  });

  it('ignores an older or repeated status, and anything after the end', () => {
    expect(nextState(row({ status: 'answered' }), status('ringing'))).toBeNull();
    expect(nextState(row({ status: 'ringing' }), status('ringing'))).toBeNull();
    expect(nextState(row({ status: 'ended', outcome: 'busy' }), status('ended', { end: 'answered' }))).toBeNull();
    expect(nextState(row({ status: 'ended', outcome: 'no_key' }), { kind: 'key', digits: '1' })).toBeNull();
  });

  it('an answered end is key_pressed with keys, no_key without, voicemail for a machine whatever it pressed', () => {
    expect(nextState(row({ status: 'answered', digits: '1' }), status('ended'))).toMatchObject({ outcome: 'key_pressed', digits: '1' });
    expect(nextState(row({ status: 'answered' }), status('ended'))).toMatchObject({ outcome: 'no_key' });
    expect(nextState(row({ status: 'answered', answeredBy: 'machine', digits: '1' }), status('ended', { answeredBy: 'human' }))).toMatchObject({ outcome: 'voicemail' });
    expect(nextState(row({ status: 'ringing' }), status('ended', { end: 'unallocated', sipResponseCode: 404 }))).toMatchObject({ outcome: 'unallocated', sipResponseCode: 404 });
  });

  it('keeps the first keys: a key press marks the call answered, a second one changes nothing', () => {
    expect(nextState(row({ status: 'ringing' }), { kind: 'key', digits: '3' })).toMatchObject({ status: 'answered', digits: '3' });
    expect(nextState(row({ status: 'answered', digits: '3' }), { kind: 'key', digits: '1' })).toBeNull();
  });
});
