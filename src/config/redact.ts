/**
 * How a configuration value may be shown in an error message, so that no secret reaches stderr or a log.
 * A variable is secret when it is listed below or its name says so (KEY, SECRET, TOKEN, PASSWORD…):
 * its value is never shown. Any other value that looks like a URL has its credentials masked
 * (`postgres://user:***@host/db`) and its secret-named query parameters hidden.
 */
export const SECRET_VARIABLES: readonly string[] = [
  'OTP_HMAC_KEYS', 'AUDIT_PHONE_HASH_KEY', 'DEV_API_KEY', 'PROVIDER_HTTP_TOKEN', 'TWILIO_AUTH_TOKEN', 'VONAGE_API_SECRET', 'VONAGE_PRIVATE_KEY', 'VONAGE_SIGNATURE_SECRET',
  'PROVIDER_HTTP_RECEIPT_SECRET', 'AWS_SECRET_ACCESS_KEY',
];

const SECRET_NAME = /KEY|SECRET|TOKEN|PASS|PWD|CREDENTIAL|AUTH|SIGNATURE|PRIVATE/i;

export function isSecretVariable(name: string): boolean {
  return SECRET_VARIABLES.includes(name) || SECRET_NAME.test(name);
}

/** The value of `name` as it may be printed. */
export function redactValue(name: string, value: unknown): string {
  if (isSecretVariable(name)) return '(hidden)';
  if (typeof value !== 'string' || !value.includes('://')) return JSON.stringify(value);
  return JSON.stringify(maskUrl(value));
}

/**
 * A URL with its password replaced by *** and secret-named query parameters emptied. A value that
 * contains '@' but cannot be parsed as a URL might hold a password anywhere: it is hidden whole.
 */
export function maskUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value.includes('@') ? '(hidden: not a URL, may hold credentials)' : value;
  }
  // The parser takes credentials only from the authority: anything else with '@' is not shown.
  const authority = /^[^:/?#]+:\/\/([^/?#]*)/.exec(value)?.[1] ?? '';
  if (value.includes('@') && !authority.includes('@')) return '(hidden: may hold credentials)';
  if (url.password) url.password = '***';
  else if (url.username) url.username = '***'; // a lone user part may be a token (https://TOKEN@host)
  for (const key of [...url.searchParams.keys()]) if (isSecretVariable(key)) url.searchParams.set(key, '***');
  return url.toString();
}
