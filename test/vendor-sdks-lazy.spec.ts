/**
 * The vendor SDKs (twilio, @vonage/server-sdk, @vonage/jwt, @aws-sdk/client-pinpoint-sms-voice-v2) load only when a
 * provider of that vendor is built or its first webhook checked: an instance that routes to other providers does
 * not carry them. Checked in a fresh Node process on the build (as `npm test` makes it), whose module cache shows
 * what the whole application's module graph loads.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const SDKS = ['twilio', '@vonage/server-sdk', '@vonage/jwt', '@aws-sdk/client-pinpoint-sms-voice-v2'];

function loadedAfter(script: string): Record<string, boolean> {
  const probe = `
    require('reflect-metadata');
    require('./dist/src/app.factory.js');
    ${script}
    const loaded = (name) => Object.keys(require.cache).some((k) => k.includes('/node_modules/' + name + '/'));
    process.stdout.write(JSON.stringify(Object.fromEntries(${JSON.stringify(SDKS)}.map((n) => [n, loaded(n)]))));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', probe], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }).toString());
}

describe('vendor SDKs load on first use', () => {
  it('the application module graph loads none of them', () => {
    expect(loadedAfter('')).toEqual(Object.fromEntries(SDKS.map((n) => [n, false])));
  });

  it('building a provider, or checking a Vonage webhook, loads its own SDK only', () => {
    const built = loadedAfter(`
      const { TwilioProvider } = require('./dist/src/gateway/providers/twilio/twilio.provider.js');
      const { AwsSmsProvider } = require('./dist/src/gateway/providers/aws/aws.provider.js');
      new TwilioProvider({ accountSid: 'AC' + '0'.repeat(32), authToken: 'x'.repeat(32), fromNumber: '+81312345678', apiBaseUrl: 'http://127.0.0.1:1' }, 'https://otp.invalid', 1000);
      new AwsSmsProvider({ region: 'ap-northeast-1', accessKeyId: 'AKIA0000', secretAccessKey: 'x', originationIdentity: '+81312345678' }, 1000);`);
    expect(built).toEqual({ twilio: true, '@vonage/server-sdk': false, '@vonage/jwt': false, '@aws-sdk/client-pinpoint-sms-voice-v2': true });
    const vonage = loadedAfter(`
      const { isValidVonageSignature } = require('./dist/src/gateway/providers/vonage/vonage-signature.js');
      if (isValidVonageSignature('secret', 'Bearer a.b.c', Buffer.from('{}'))) throw new Error('a forged token passed');`);
    expect(vonage['@vonage/jwt']).toBe(true);
  });
});
