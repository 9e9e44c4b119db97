import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header Twilio signs its webhooks (status callbacks, <Gather> actions) with. */
export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';

export type FormParams = Record<string, string | string[] | undefined>;

/**
 * Twilio's request signature (https://www.twilio.com/docs/usage/security#validating-requests): HMAC-SHA1, keyed
 * with the account's auth token, over the full URL Twilio called (scheme, host, path and query as given to
 * Twilio) followed by every POST parameter sorted by name, each as name + value with no separators (a
 * repeated parameter as name + value once per value, values sorted, as Twilio's SDKs do); base64.
 */
export function twilioSignature(authToken: string, url: string, params: FormParams = {}): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? [...value].sort() : [value]) data += name + v;
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** Whether `signature` is Twilio's for this URL and these parameters; compared in constant time. */
export function isValidTwilioSignature(authToken: string, signature: string | undefined, url: string, params: FormParams): boolean {
  if (typeof signature !== 'string' || signature.length === 0) return false;
  const expected = Buffer.from(twilioSignature(authToken, url, params));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
