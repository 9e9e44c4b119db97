import { escapeXml } from '../twilio/twilio-twiml';

const LANGUAGE = { ja: 'ja-JP', en: 'en-US' } as const;

/** How long Vonage waits for the key once the prompt has been read, in seconds (as Twilio's <Gather> does). */
export const INPUT_TIMEOUT_SECONDS = 8;

const CLOSING = { ja: 'ありがとうございました。失礼いたします。', en: 'Thank you. Goodbye.' } as const;

export type Ncco = Array<Record<string, unknown>>;

/**
 * The NCCO of a voice code message: one `talk` that reads the text (its digits already spaced by the message
 * composer) slowly (SSML prosody), twice (`loop`), in ja-JP or en-US. Built from escaped text only.
 */
export function readOutNcco(speech: string, locale: 'ja' | 'en'): Ncco {
  return [{ action: 'talk', text: `<speak><prosody rate="slow">${escapeXml(speech)}</prosody><break time="2s"/></speak>`, language: LANGUAGE[locale], loop: 2, premium: true }];
}

/**
 * The NCCO of an IVR check call: the prompt read twice (`loop: 2`; `bargeIn` so a key pressed while it speaks
 * counts), then an `input` that waits for one key (DTMF only, `maxDigits` 1, `timeOut` seconds) and posts what it
 * got to `inputUrl` (our signed callback, which answers the NCCO that follows: a goodbye). The NCCO is sent as
 * Vonage reads it (camelCase keys: the SDK copies `ncco` through unchanged).
 */
export function checkCallNcco(prompt: string, locale: 'ja' | 'en', inputUrl: string): Ncco {
  return [
    { action: 'talk', text: prompt, language: LANGUAGE[locale], loop: 2, bargeIn: true },
    { action: 'input', type: ['dtmf'], dtmf: { maxDigits: 1, timeOut: INPUT_TIMEOUT_SECONDS, submitOnHash: false }, eventUrl: [inputUrl], eventMethod: 'POST' },
  ];
}

/** The answer to the input webhook: a goodbye, after which the NCCO is done and Vonage ends the call. */
export function closingNcco(locale: 'ja' | 'en'): Ncco {
  return [{ action: 'talk', text: CLOSING[locale], language: LANGUAGE[locale] }];
}
