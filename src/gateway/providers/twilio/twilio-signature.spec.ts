import { isValidTwilioSignature, twilioSignature } from './twilio-signature';

describe('Twilio request signature', () => {
  // The worked example of Twilio's "Webhooks security" page (https://www.twilio.com/docs/usage/security#validating-requests),
  // the vector Twilio's SDKs test against: auth token 12345, this URL and these POST parameters.
  const authToken = '12345';
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212' };
  const documented = '0/KCTR6DLpKmkAf8muzZqo1nDgQ=';

  it("matches the signature in Twilio's documentation", () => {
    expect(twilioSignature(authToken, url, params)).toBe(documented);
  });

  it('sorts the parameters by name: the order they arrive in does not matter', () => {
    const shuffled = { To: params.To, Digits: params.Digits, CallSid: params.CallSid, From: params.From, Caller: params.Caller };
    expect(twilioSignature(authToken, url, shuffled)).toBe(documented);
  });

  it('accepts the documented signature and refuses any change to the token, URL, a parameter or the signature', () => {
    expect(isValidTwilioSignature(authToken, documented, url, params)).toBe(true);
    expect(isValidTwilioSignature('54321', documented, url, params)).toBe(false);
    expect(isValidTwilioSignature(authToken, documented, 'https://mycompany.com/myapp.php?foo=1&bar=3', params)).toBe(false);
    expect(isValidTwilioSignature(authToken, documented, url, { ...params, Digits: '1235' })).toBe(false);
    expect(isValidTwilioSignature(authToken, documented, url, { ...params, Extra: '' })).toBe(false); // an added parameter, even empty
    expect(isValidTwilioSignature(authToken, documented.slice(0, -1), url, params)).toBe(false);
    expect(isValidTwilioSignature(authToken, undefined, url, params)).toBe(false);
    expect(isValidTwilioSignature(authToken, '', url, params)).toBe(false);
  });

  it('signs a repeated parameter once per value, values sorted', () => {
    expect(twilioSignature(authToken, url, { A: ['2', '1'] })).toBe(twilioSignature(authToken, url + 'A1A2'));
  });
});
