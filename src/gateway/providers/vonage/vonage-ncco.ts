import { escapeXml } from '../twilio/twilio-twiml';

const LANGUAGE = { ja: 'ja-JP', en: 'en-US' } as const;

/**
 * The NCCO of a voice code message: one `talk` that reads the text (its digits already spaced by the message
 * composer) slowly (SSML prosody), twice (`loop`), in ja-JP or en-US. Built from escaped text only.
 */
export function readOutNcco(speech: string, locale: 'ja' | 'en'): Array<Record<string, unknown>> {
  return [{ action: 'talk', text: `<speak><prosody rate="slow">${escapeXml(speech)}</prosody><break time="2s"/></speak>`, language: LANGUAGE[locale], loop: 2, premium: true }];
}
