/** The TwiML the service gives Twilio: built from escaped text only, never from a template a caller controls. */

const LANGUAGE = { ja: 'ja-JP', en: 'en-US' } as const;

/** How long Twilio waits for the key once the prompt has been read, in seconds. */
export const GATHER_TIMEOUT_SECONDS = 8;

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const CLOSING = { ja: 'ありがとうございました。失礼いたします。', en: 'Thank you. Goodbye.' } as const;

/** Reads the prompt (twice) and waits for one key, which Twilio posts to `actionUrl`; without one the call says goodbye. */
export function checkCallTwiml(prompt: string, locale: 'ja' | 'en', actionUrl: string): string {
  const say = `<Say language="${LANGUAGE[locale]}">${escapeXml(prompt)}</Say>`;
  return (
    '<?xml version="1.0" encoding="UTF-8"?><Response>' +
    `<Gather input="dtmf" numDigits="1" timeout="${GATHER_TIMEOUT_SECONDS}" action="${escapeXml(actionUrl)}" method="POST">${say}<Pause length="1"/>${say}</Gather>` +
    `<Say language="${LANGUAGE[locale]}">${CLOSING[locale]}</Say><Hangup/></Response>`
  );
}

/** The answer to the <Gather> action: a goodbye, then the call ends (the status callback tells how). */
export function closingTwiml(locale: 'ja' | 'en'): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Say language="${LANGUAGE[locale]}">${CLOSING[locale]}</Say><Hangup/></Response>`;
}

/** The answer to an inbound call: refused without being answered, so it costs the caller nothing (the caller id is what counted). */
export function rejectTwiml(): string {
  return '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>';
}

/** Neural voices that honour SSML, so the code can be read slowly. */
const VOICE = { ja: 'Polly.Mizuki', en: 'Polly.Joanna' } as const;

/** A voice code message: the text (its digits already spaced by the message composer) read twice, slowly, with a pause between. */
export function readOutTwiml(speech: string, locale: 'ja' | 'en'): string {
  const say = `<Say voice="${VOICE[locale]}" language="${LANGUAGE[locale]}"><prosody rate="slow">${escapeXml(speech)}</prosody></Say>`;
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${say}<Pause length="2"/>${say}</Response>`;
}
