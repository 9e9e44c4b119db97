import { ValidationOptions, ValidateBy, buildMessage } from 'class-validator';

/**
 * Values shaped like our own secrets: API keys (`otp_<12>_<40>`) and webhook secrets (`whsec_…`). The same
 * pattern as the audit trail's sanitizer (src/audit/audit-data.ts), which refuses to store them: caller
 * text that would reach the audit trail is checked with this first, so it is a 400, never a 500.
 */
const CREDENTIAL = /otp_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}|whsec_[A-Za-z0-9]{16,}/;

export function looksLikeCredential(value: string): boolean {
  return CREDENTIAL.test(value);
}

export const CREDENTIAL_MESSAGE = 'looks like a credential (an API key or webhook secret); never send one in this field';

/** Refuses a string that contains something shaped like an API key or a webhook secret. */
export function NoCredential(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'noCredential',
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || !looksLikeCredential(value),
        defaultMessage: buildMessage((each) => `${each}$property ${CREDENTIAL_MESSAGE}`, options),
      },
    },
    options,
  );
}

// Control characters (C0, DEL, C1): a line break in a payee would forge a line of the SMS.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Bidirectional overrides and isolates: they make a text display in another order than it reads.
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;
// What shows nothing: white space, and format characters (zero-width space, joiners, BOM, word joiner…).
const INVISIBLE = /[\s\p{Cf}]/gu;

/** Why `value` cannot be shown to a person as it is (in an SMS), or undefined when it can. */
export function displayTextProblem(value: string): string | undefined {
  if (CONTROL.test(value)) return 'must not contain control characters (line breaks, tabs…)';
  if (BIDI.test(value)) return 'must not contain bidirectional override characters';
  if (value.replace(INVISIBLE, '').length === 0) return 'must contain a visible character (not only spaces or zero-width characters)';
  return undefined;
}

/** Text shown to the person in a message: something visible, no control or bidi-override characters. */
export function IsDisplayText(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isDisplayText',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && displayTextProblem(value) === undefined,
        defaultMessage: buildMessage(
          (each, args) => `${each}$property ${typeof args?.value === 'string' ? displayTextProblem(args.value) : 'must be a string'}`,
          options,
        ),
      },
    },
    options,
  );
}

/** ISO 4217 codes as this Node.js (ICU) knows them; the test, fund and precious-metal codes (XXX, XTS, XAU…) are not among them. */
const CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

export function isCurrencyCode(value: string): boolean {
  return CURRENCIES.has(value.toUpperCase());
}

/** An ISO 4217 currency code, in any case (`JPY`, `usd`). */
export function IsCurrencyCode(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isCurrencyCode',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && isCurrencyCode(value),
        defaultMessage: buildMessage((each) => `${each}$property must be an ISO 4217 currency code such as JPY`, options),
      },
    },
    options,
  );
}
