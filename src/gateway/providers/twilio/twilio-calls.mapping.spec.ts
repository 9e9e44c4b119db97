import { callerOf, stepOfGatherAction, stepOfStatusCallback } from './twilio-calls.mapping';
import { checkCallTwiml } from './twilio-twiml';

describe('Twilio call callbacks → neutral steps', () => {
  it.each([
    ['initiated', undefined, 'queued', null],
    ['ringing', undefined, 'ringing', null],
    ['in-progress', undefined, 'answered', null],
    ['completed', '200', 'ended', 'answered'],
    ['busy', '486', 'ended', 'busy'],
    ['no-answer', '487', 'ended', 'no_answer'],
    ['canceled', undefined, 'ended', 'no_answer'],
    ['failed', '404', 'ended', 'unallocated'],
    ['failed', '484', 'ended', 'unallocated'],
    ['failed', '604', 'ended', 'unallocated'],
    ['failed', '410', 'ended', 'out_of_service'],
    ['failed', '480', 'ended', 'unavailable'],
    ['failed', '486', 'ended', 'busy'],
    ['failed', '603', 'ended', 'rejected'],
    ['failed', '503', 'ended', 'route_error'],
    ['failed', undefined, 'ended', 'route_error'],
  ])('CallStatus %s, SipResponseCode %s → %s / %s', (CallStatus, SipResponseCode, status, end) => {
    expect(stepOfStatusCallback({ CallStatus, SipResponseCode, SequenceNumber: '2' })).toMatchObject({ kind: 'status', status, end, sequence: 2 });
  });

  it('AnsweredBy: machine_* and fax are a machine; an unknown CallStatus is no step', () => {
    expect(stepOfStatusCallback({ CallStatus: 'completed', AnsweredBy: 'machine_end_beep' })).toMatchObject({ answeredBy: 'machine' });
    expect(stepOfStatusCallback({ CallStatus: 'completed', AnsweredBy: 'fax' })).toMatchObject({ answeredBy: 'machine' });
    expect(stepOfStatusCallback({ CallStatus: 'completed', AnsweredBy: 'human' })).toMatchObject({ answeredBy: 'human' });
    expect(stepOfStatusCallback({ CallStatus: 'completed', AnsweredBy: 'unknown' })).toMatchObject({ answeredBy: 'unknown' });
    expect(stepOfStatusCallback({ CallStatus: 'teleported' })).toBeNull();
  });

  it('a <Gather> action is a key step only with keys', () => {
    expect(stepOfGatherAction({ Digits: '1', FinishedOnKey: '' })).toEqual({ kind: 'key', digits: '1' });
    expect(stepOfGatherAction({ Digits: '' })).toBeNull();
    expect(stepOfGatherAction({ Digits: '<1>' })).toBeNull();
  });

  it('the check call TwiML escapes the prompt and the action URL', () => {
    const twiml = checkCallTwiml('Press <1> & "go"', 'en', 'https://x.example/cb?ref=a&lang=en&step=gather');
    expect(twiml).toContain('<Say language="en-US">Press &lt;1&gt; &amp; &quot;go&quot;</Say>');
    expect(twiml).toContain('action="https://x.example/cb?ref=a&amp;lang=en&amp;step=gather"');
    expect(twiml).toContain('numDigits="1"');
  });

  it.each([
    ['+819012345678', '+819012345678'],
    ['anonymous', null],
    ['Restricted', null],
    ['Unavailable', null],
    ['+266696687', null],
    ['', null],
    ['819012345678', null],
  ])('an inbound caller %j is %j (withheld callers are null)', (from, expected) => {
    expect(callerOf({ From: from })).toBe(expected);
  });
});
