import { AppConfig, ConfigError } from './app-config';
import { maskUrl, redactValue } from './redact';

const configError = (env: Record<string, string>): ConfigError => {
  try {
    AppConfig.fromEnv(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`no ConfigError for ${Object.keys(env).join(', ')}`);
};

describe('AppConfig: an invalid configuration names the variables but never prints a secret', () => {
  it.each([
    ['DATABASE_URL', 'mysql://otp:Db-S3cret-pw@db:5432/otp', 'Db-S3cret-pw', 'mysql://otp:***@db:5432/otp'],
    ['DATABASE_URL', 'postgres://otp:Port-S3cret-pw@db:notaport/otp', 'Port-S3cret-pw', '(hidden'],
    ['DATABASE_URL', 'postgres://otp:Empty-host-pw@/otp', 'Empty-host-pw', undefined],
    ['REDIS_URL', 'http://default:R3dis-S3cret@redis:6379', 'R3dis-S3cret', 'http://default:***@redis:6379'],
    ['REDIS_URL', 'redis://:R3dis-S3cret@', 'R3dis-S3cret', undefined],
    ['PROVIDER_HTTP_TOKEN', 'tok-S3cret', 'tok-S3cret', '(hidden)'],
    ['OTP_HMAC_KEYS', 'k1:deadbeefcafe', 'deadbeefcafe', '(hidden)'],
    ['AUDIT_PHONE_HASH_KEY', 'c0ffee-S3cret', 'c0ffee-S3cret', '(hidden)'],
    ['DEV_API_KEY', 'short-S3cret', 'short-S3cret', '(hidden)'],
    ['SMS_HTTP_URL', 'ftp://gw:Sms-S3cret@sms.example/send', 'Sms-S3cret', 'ftp://gw:***@sms.example/send'],
  ])('%s=%s', (name, value, secret, shown) => {
    const err = configError({ [name]: value });
    expect(err.message).toContain(`${name}=`);
    expect(err.message).not.toContain(secret);
    if (shown) expect(err.message).toContain(shown);
  });

  it('several bad secrets at once: every variable named, no secret text anywhere', () => {
    const secrets = ['Db-S3cret-pw', 'R3dis-S3cret', 'tok-S3cret'];
    const err = configError({
      DATABASE_URL: `mysql://otp:${secrets[0]}@db/otp`,
      REDIS_URL: `http://:${secrets[1]}@redis:6379`,
      PROVIDER_HTTP_TOKEN: secrets[2],
    });
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'PROVIDER_HTTP_TOKEN']) expect(err.message).toContain(name);
    for (const text of [err.message, JSON.stringify(err.problems), String(err.stack)]) for (const secret of secrets) expect(text).not.toContain(secret);
  });

  it('non-secret values are still shown, to help fix them', () => {
    expect(configError({ PORT: 'abc' }).message).toContain('PORT="abc"');
    expect(configError({ DATABASE_URL: 'not-a-url' }).message).toContain('DATABASE_URL="not-a-url"');
  });
});

describe('redact', () => {
  it('hides variables listed or named as secrets', () => {
    for (const name of ['PROVIDER_HTTP_TOKEN', 'OTP_HMAC_KEYS', 'SOME_NEW_SECRET', 'TWILIO_AUTH_TOKEN', 'SMTP_PASSWORD', 'VONAGE_PRIVATE_KEY', 'X_API_KEY']) {
      expect(redactValue(name, 'v-123')).toBe('(hidden)');
    }
    expect(redactValue('PORT', 'abc')).toBe('"abc"');
  });

  it('masks URL credentials and secret query parameters; hides what it cannot parse when it may hold one', () => {
    expect(maskUrl('postgres://otp:pw@db:5432/otp')).toBe('postgres://otp:***@db:5432/otp');
    expect(maskUrl('https://TOKEN123@gw.example/x')).toBe('https://***@gw.example/x');
    expect(maskUrl('postgres://db/otp?sslpassword=pw&application_name=a')).not.toContain('pw&');
    expect(maskUrl('postgres://u/pa@host/db')).not.toContain('pa@');
    expect(maskUrl('postgres://u:p@ss@db:x/otp')).not.toContain('p@ss');
    expect(maskUrl('redis://redis:6379')).toBe('redis://redis:6379');
  });
});

describe('AppConfig.startupProblems: production refuses the console provider', () => {
  const production = { NODE_ENV: 'production', OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32), AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32) };
  const http = { SMS_PROVIDER: 'http', SMS_HTTP_URL: 'https://sms.example/send', VOICE_PROVIDER: 'http', VOICE_HTTP_URL: 'https://ivr.example/call' };

  it('names each variable left on console', () => {
    expect(AppConfig.fromEnv(production).startupProblems()).toEqual([expect.stringMatching(/^SMS_PROVIDER=console is refused/), expect.stringMatching(/^VOICE_PROVIDER=console is refused/)]);
    expect(AppConfig.fromEnv({ ...production, ...http, VOICE_PROVIDER: 'console' }).startupProblems()).toEqual([expect.stringMatching(/^VOICE_PROVIDER=console/)]);
  });

  it('accepts real providers in production, and the console provider anywhere else', () => {
    expect(AppConfig.fromEnv({ ...production, ...http }).startupProblems()).toEqual([]);
    expect(AppConfig.fromEnv({ NODE_ENV: 'development' }).startupProblems()).toEqual([]);
    expect(AppConfig.fromEnv({ NODE_ENV: 'test' }).startupProblems()).toEqual([]);
  });
});

describe('AppConfig: webhook destinations', () => {
  const production = { NODE_ENV: 'production', OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32), AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32) };

  it('loopback is allowed outside production unless turned off, and in production only when turned on; https only in production', () => {
    expect(AppConfig.fromEnv({ NODE_ENV: 'test' }).webhookDestinations).toEqual({ httpsOnly: false, allowLoopback: true, allowed: [] });
    expect(AppConfig.fromEnv({ NODE_ENV: 'development', WEBHOOK_ALLOW_LOOPBACK: 'false' }).webhookDestinations.allowLoopback).toBe(false);
    expect(AppConfig.fromEnv(production).webhookDestinations).toEqual({ httpsOnly: true, allowLoopback: false, allowed: [] });
    expect(AppConfig.fromEnv({ ...production, WEBHOOK_ALLOW_LOOPBACK: 'true' }).webhookDestinations.allowLoopback).toBe(true);
  });

  it('WEBHOOK_ALLOWED_DESTINATIONS takes host names, wildcards, addresses and CIDR ranges, and names itself when wrong', () => {
    const value = ' Hooks.Bank.Internal. , *.corp.example,10.20.0.0/16, 192.168.7.7 ,fd12::/48,::1';
    expect(AppConfig.fromEnv({ WEBHOOK_ALLOWED_DESTINATIONS: value }).webhookDestinations.allowed).toEqual([
      'hooks.bank.internal',
      '*.corp.example',
      '10.20.0.0/16',
      '192.168.7.7',
      'fd12::/48',
      '::1',
    ]);
    for (const bad of ['10.0.0.0/33', 'https://bank.internal/', 'bank internal', 'fd12::/129', '*.', ',']) {
      expect(configError({ WEBHOOK_ALLOWED_DESTINATIONS: bad }).message).toContain('WEBHOOK_ALLOWED_DESTINATIONS=');
    }
  });
});

describe('AppConfig: the Twilio voice provider', () => {
  const twilio = {
    VOICE_PROVIDER: 'twilio',
    TWILIO_ACCOUNT_SID: 'AC' + 'a'.repeat(32),
    TWILIO_AUTH_TOKEN: 'Tw1lio-auth-t0ken-S3cret',
    TWILIO_FROM_NUMBER: '+81312345678',
    PUBLIC_CALLBACK_BASE_URL: 'https://otp.example.jp/',
  };

  it('names every variable it lacks', () => {
    const err = configError({ VOICE_PROVIDER: 'twilio' });
    for (const name of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM_NUMBER', 'PUBLIC_CALLBACK_BASE_URL']) expect(err.message).toContain(`${name} is required when VOICE_PROVIDER lists twilio`);
  });

  it('never prints the auth token, even when it is refused', () => {
    const err = configError({ ...twilio, TWILIO_AUTH_TOKEN: 'S3cret-short', TWILIO_ACCOUNT_SID: 'XX1' });
    expect(err.message).toContain('TWILIO_AUTH_TOKEN=(hidden)');
    expect(err.message).not.toContain('S3cret-short');
    expect(err.message).toContain('TWILIO_ACCOUNT_SID="XX1": must be AC followed by 32 hexadecimal digits');
  });

  it('groups the credentials for the gateway, the callback base without its trailing slash; production needs https for it', () => {
    const config = AppConfig.fromEnv(twilio);
    expect(config.gateway.twilio).toEqual({ accountSid: twilio.TWILIO_ACCOUNT_SID, authToken: twilio.TWILIO_AUTH_TOKEN, fromNumber: '+81312345678', apiBaseUrl: 'https://api.twilio.com' });
    expect(config.gateway.publicCallbackBaseUrl).toBe('https://otp.example.jp');
    const prod = { ...twilio, NODE_ENV: 'production', OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32), AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32), SMS_PROVIDER: 'http', SMS_HTTP_URL: 'https://sms.example' };
    expect(AppConfig.fromEnv(prod).startupProblems()).toEqual([]);
    expect(AppConfig.fromEnv({ ...prod, PUBLIC_CALLBACK_BASE_URL: 'http://otp.example.jp' }).startupProblems()).toEqual([expect.stringContaining('PUBLIC_CALLBACK_BASE_URL must be an https:// URL')]);
  });
});

describe('AppConfig: voice-contract settings', () => {
  it('inbound checks as the default method need the number people call', () => {
    expect(configError({ RISK_VOICE_CONTRACT_METHOD: 'ivr_inbound' }).message).toContain('RISK_INBOUND_CHECK_NUMBER is required when RISK_VOICE_CONTRACT_METHOD=ivr_inbound');
    expect(AppConfig.fromEnv({ RISK_VOICE_CONTRACT_METHOD: 'ivr_inbound', RISK_INBOUND_CHECK_NUMBER: '+815012340000' }).risk.voiceCheck.inboundNumber).toBe('+815012340000');
  });

  it('the check window holds every call of a check with its delays (a check still calling at its end is decided unknown)', () => {
    expect(AppConfig.fromEnv({}).risk.voiceCheck.windowMs).toBe(900_000); // 2 retries 120 s apart: 420 s needed
    expect(configError({ RISK_VOICE_CHECK_WINDOW_SECONDS: '300' }).message).toContain('RISK_VOICE_CHECK_WINDOW_SECONDS (300) must be at least 420');
    expect(configError({ RISK_VOICE_CHECK_RETRIES: '5', RISK_VOICE_CHECK_RETRY_SECONDS: '300' }).message).toContain('must be at least 1860');
    expect(AppConfig.fromEnv({ RISK_VOICE_CHECK_WINDOW_SECONDS: '420' }).risk.voiceCheck.windowMs).toBe(420_000);
  });

  it.each([
    ['RISK_VOICE_CONTRACT_DEFAULT', 'always'],
    ['RISK_VOICE_CONTRACT_ON_UNKNOWN', 'maybe'],
    ['RISK_VOICE_CHECK_KEY', '12'],
    ['RISK_VOICE_CHECK_RETRIES', '9'],
    ['RISK_INBOUND_CHECK_NUMBER', '0501234'],
  ])('%s=%s is refused, naming it', (name, value) => {
    expect(configError({ [name]: value }).message).toContain(name);
  });

  it('defaults: off, deny unknown, outbound, 90 / 7 days, two retries 120 s apart, key 1', () => {
    const c = AppConfig.fromEnv({});
    expect(c.risk.policyDefaults.voiceContract).toEqual({ default: 'off', onUnknown: 'deny', method: 'ivr_outbound' });
    expect(c.risk.voiceCheck).toMatchObject({ confirmedMs: 90 * 86_400_000, absentMs: 7 * 86_400_000, retries: 2, retryDelayMs: 120_000, key: '1', inboundNumber: null });
  });
});

describe('AppConfig: provider routing and vendor settings (issue 11)', () => {
  const production = { NODE_ENV: 'production', OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32), AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32) };
  const twilio = { TWILIO_ACCOUNT_SID: 'AC' + 'a'.repeat(32), TWILIO_AUTH_TOKEN: 'Tw1lio-auth-t0ken-S3cret', TWILIO_FROM_NUMBER: '+81312345678', PUBLIC_CALLBACK_BASE_URL: 'https://otp.example.jp' };
  const vonageSms = { VONAGE_API_KEY: 'a1b2c3d4', VONAGE_API_SECRET: 'V0nage-S3cret-123', VONAGE_SIGNATURE_SECRET: 'V0nage-signature-S3cret', VONAGE_FROM_NUMBER: '+81312340000' };

  it('reads an ordered list per channel and routes per country calling code', () => {
    const config = AppConfig.fromEnv({ ...twilio, ...vonageSms, SMS_PROVIDER: 'twilio,vonage', SMS_ROUTES: '1=vonage;44=vonage,twilio' });
    expect(config.gateway.routing.sms).toEqual({ providers: ['twilio', 'vonage'], byCallingCode: { '1': ['vonage'], '44': ['vonage', 'twilio'] } });
    expect(config.gateway.routing.voice).toEqual({ providers: ['console'], byCallingCode: {} });
    expect(config.gateway.routing).toMatchObject({ budgetMs: 15000, onTimeout: 'failover', circuit: { failures: 5, halfOpenAfterMs: 30000 } });
  });

  it('a voice provider places at most 1 call per second by default; PROVIDER_RATE_LIMITS overrides, 0 lifts a limit', () => {
    expect(AppConfig.fromEnv({ ...twilio, VOICE_PROVIDER: 'twilio' }).gateway.routing.rateLimits).toEqual({ 'twilio.voice': 1 });
    expect(AppConfig.fromEnv({ ...twilio, VOICE_PROVIDER: 'twilio', PROVIDER_RATE_LIMITS: 'twilio.voice=3,twilio.sms=30' }).gateway.routing.rateLimits).toEqual({ 'twilio.voice': 3, 'twilio.sms': 30 });
    expect(AppConfig.fromEnv({ ...twilio, VOICE_PROVIDER: 'twilio', PROVIDER_RATE_LIMITS: 'twilio.voice=0' }).gateway.routing.rateLimits).toEqual({});
  });

  it.each([
    [{ SMS_PROVIDER: 'twilio,sinch' }, 'SMS_PROVIDER="twilio,sinch": must be a comma-separated list'],
    [{ ...twilio, SMS_PROVIDER: 'twilio,twilio' }, 'SMS_PROVIDER names a provider twice'],
    [{ SMS_ROUTES: '81=twilio;81=vonage' }, 'SMS_ROUTES="81=twilio;81=vonage": must be country calling codes'],
    [{ VOICE_ROUTES: '+81=twilio' }, 'VOICE_ROUTES="+81=twilio"'],
    [{ PROVIDER_ON_TIMEOUT: 'retry' }, 'PROVIDER_ON_TIMEOUT="retry"'],
    [{ PROVIDER_RATE_LIMITS: 'twilio=1' }, 'PROVIDER_RATE_LIMITS="twilio=1"'],
  ])('%j is refused, naming the variable', (env, message) => {
    expect(configError(env as Record<string, string>).message).toContain(message);
  });

  it('a real provider without its credentials stops the start, naming each variable', () => {
    const err = configError({ SMS_PROVIDER: 'vonage' });
    for (const name of ['VONAGE_SIGNATURE_SECRET', 'VONAGE_FROM_NUMBER', 'PUBLIC_CALLBACK_BASE_URL']) expect(err.message).toContain(`${name} is required when SMS_PROVIDER lists vonage`);
    expect(err.message).toContain('VONAGE_API_KEY and VONAGE_API_SECRET (or VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY) are required when SMS_PROVIDER lists vonage');
    expect(configError({ SMS_PROVIDER: 'twilio' }).message).toContain('TWILIO_AUTH_TOKEN is required when SMS_PROVIDER lists twilio');
    // a provider named only in a route counts too
    expect(configError({ SMS_ROUTES: '1=twilio' }).message).toContain('TWILIO_ACCOUNT_SID is required when SMS_PROVIDER lists twilio');
  });

  it('a voice provider without a caller number (or Vonage voice without an application) stops the start', () => {
    const { TWILIO_FROM_NUMBER: _from, ...noNumber } = twilio;
    expect(configError({ ...noNumber, VOICE_PROVIDER: 'twilio' }).message).toContain('TWILIO_FROM_NUMBER is required when VOICE_PROVIDER lists twilio');
    const { VONAGE_FROM_NUMBER: _v, ...vonageNoNumber } = vonageSms;
    const err = configError({ ...vonageNoNumber, PUBLIC_CALLBACK_BASE_URL: 'https://otp.example.jp', VOICE_PROVIDER: 'vonage' });
    for (const name of ['VONAGE_FROM_NUMBER', 'VONAGE_APPLICATION_ID', 'VONAGE_PRIVATE_KEY']) expect(err.message).toContain(`${name} is required when VOICE_PROVIDER lists vonage`);
  });

  it('never prints a Vonage secret', () => {
    const err = configError({ SMS_PROVIDER: 'vonage', VONAGE_API_SECRET: 'short', VONAGE_SIGNATURE_SECRET: 'tiny-secret', VONAGE_PRIVATE_KEY: 'not-a-pem-S3cret' });
    for (const secret of ['short', 'tiny-secret', 'not-a-pem-S3cret']) expect(err.message).not.toContain(`"${secret}"`);
    expect(err.message).toContain('VONAGE_PRIVATE_KEY=(hidden)');
  });

  it('production: a callback base that is not https, or console anywhere in a list, stops the start naming the variable', () => {
    const prod = { ...production, ...twilio, ...vonageSms, SMS_PROVIDER: 'twilio,vonage', VOICE_PROVIDER: 'twilio' };
    expect(AppConfig.fromEnv(prod).startupProblems()).toEqual([]);
    expect(AppConfig.fromEnv({ ...prod, PUBLIC_CALLBACK_BASE_URL: 'http://otp.example.jp' }).startupProblems()).toEqual([expect.stringContaining('PUBLIC_CALLBACK_BASE_URL must be an https:// URL')]);
    expect(AppConfig.fromEnv({ ...prod, SMS_PROVIDER: 'twilio,console' }).startupProblems()).toEqual([expect.stringMatching(/^SMS_PROVIDER=console is refused/)]);
  });
});

describe('AppConfig: AWS and the generic http provider (issue 11)', () => {
  const production = { NODE_ENV: 'production', OTP_HMAC_KEYS: 'k1:' + 'ab'.repeat(32), AUDIT_PHONE_HASH_KEY: 'cd'.repeat(32) };
  const aws = { AWS_REGION: 'ap-northeast-1', AWS_ACCESS_KEY_ID: 'AKIAABCDEFGHIJKLMNOP', AWS_SECRET_ACCESS_KEY: 'Aws-S3cret-access-key-0123456789', AWS_SMS_ORIGINATION_IDENTITY: 'OTPVERIFY' };

  it('aws without its credentials stops the start, naming each variable; the secret is never printed', () => {
    const err = configError({ SMS_PROVIDER: 'aws,console' });
    for (const name of ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SMS_ORIGINATION_IDENTITY']) expect(err.message).toContain(`${name} is required when SMS_PROVIDER lists aws`);
    const short = configError({ ...aws, SMS_PROVIDER: 'aws', AWS_SECRET_ACCESS_KEY: 'short-S3cret' });
    expect(short.message).toContain('AWS_SECRET_ACCESS_KEY=(hidden)');
    expect(short.message).not.toContain('short-S3cret');
    expect(configError({ ...aws, SMS_PROVIDER: 'aws', AWS_REGION: 'Tokyo' }).message).toContain('AWS_REGION="Tokyo": must be an AWS region');
  });

  it('aws sends SMS only: a voice list naming it is refused', () => {
    expect(configError({ ...aws, VOICE_PROVIDER: 'aws' }).message).toContain('VOICE_PROVIDER or VOICE_ROUTES names aws: the aws provider sends SMS only');
    expect(configError({ ...aws, VOICE_ROUTES: '81=aws' }).message).toContain('VOICE_PROVIDER or VOICE_ROUTES names aws: the aws provider sends SMS only');
  });

  it('groups the AWS settings; production accepts it without a callback address (AWS calls nothing back)', () => {
    const config = AppConfig.fromEnv({ ...aws, SMS_PROVIDER: 'aws', AWS_SMS_CONFIGURATION_SET: 'otp-events' });
    expect(config.gateway.aws).toEqual({ region: 'ap-northeast-1', accessKeyId: aws.AWS_ACCESS_KEY_ID, secretAccessKey: aws.AWS_SECRET_ACCESS_KEY, originationIdentity: 'OTPVERIFY', configurationSet: 'otp-events', endpoint: undefined });
    expect(AppConfig.fromEnv({ ...production, ...aws, SMS_PROVIDER: 'aws', VOICE_PROVIDER: 'http', VOICE_HTTP_URL: 'https://ivr.example.jp' }).startupProblems()).toEqual([]);
    expect(AppConfig.fromEnv({ ...aws }).gateway.aws).toBeNull();
  });

  it('the http provider defaults to today\'s contract; the token goes into the auth value', () => {
    const h = AppConfig.fromEnv({ SMS_PROVIDER: 'http', SMS_HTTP_URL: 'https://sms.example.jp', PROVIDER_HTTP_TOKEN: 'token-0123456789abcdef' }).gateway.http;
    expect(h).toMatchObject({ method: 'POST', contentType: 'json', auth: { header: 'Authorization', value: 'Bearer token-0123456789abcdef' }, idPath: 'id', retryableStatuses: [408, 429, '5xx'], receipts: null });
    expect(h.templates.sms).toEqual({ to: '{{to}}', text: '{{text}}', reference: '{{reference}}' });
    expect(AppConfig.fromEnv({ SMS_PROVIDER: 'http', SMS_HTTP_URL: 'https://sms.example.jp' }).gateway.http.auth).toBeNull();
    expect(configError({ PROVIDER_HTTP_AUTH_VALUE: 'Bearer abc' }).message).toContain('PROVIDER_HTTP_AUTH_VALUE=(hidden): must place the token');
  });

  it('production: the http endpoints must be https (a loopback relay aside); receipts turn on the https check of the callback base', () => {
    const prod = { ...production, SMS_PROVIDER: 'http', VOICE_PROVIDER: 'http', SMS_HTTP_URL: 'https://sms.example.jp', VOICE_HTTP_URL: 'http://127.0.0.1:8080/ivr' };
    expect(AppConfig.fromEnv(prod).startupProblems()).toEqual([]);
    expect(AppConfig.fromEnv({ ...prod, SMS_HTTP_URL: 'http://sms.example.jp/send' }).startupProblems()).toEqual([expect.stringMatching(/^SMS_HTTP_URL must be an https:\/\/ URL when NODE_ENV=production/)]);
    const receipts = { ...prod, PROVIDER_HTTP_RECEIPT_SECRET: 'r'.repeat(40) };
    expect(AppConfig.fromEnv(receipts).startupProblems()).toEqual([]);
    expect(AppConfig.fromEnv({ ...receipts, PUBLIC_CALLBACK_BASE_URL: 'http://otp.example.jp' }).startupProblems()).toEqual([expect.stringContaining('PUBLIC_CALLBACK_BASE_URL must be an https:// URL')]);
    expect(configError({ ...receipts, PROVIDER_HTTP_RECEIPT_SECRET: 'too-short' }).message).toContain('PROVIDER_HTTP_RECEIPT_SECRET=(hidden)');
  });
});

describe('AppConfig: the database pool', () => {
  it('a pool of one connection is refused while housekeeping or audit retention runs (each holds one for its lock and works on another)', () => {
    expect(configError({ DATABASE_POOL_SIZE: '1' }).message).toMatch(/DATABASE_POOL_SIZE must be at least 2 while HOUSEKEEPING_ENABLED=true: housekeeping and audit retention each hold one connection/);
    expect(configError({ DATABASE_POOL_SIZE: '1', HOUSEKEEPING_ENABLED: 'false', AUDIT_RETENTION_DAYS: '30' }).message).toMatch(/DATABASE_POOL_SIZE must be at least 2 while AUDIT_RETENTION_DAYS > 0:/);
    expect(AppConfig.fromEnv({ DATABASE_POOL_SIZE: '1', HOUSEKEEPING_ENABLED: 'false' }).database.poolSize).toBe(1);
    expect(AppConfig.fromEnv({ DATABASE_POOL_SIZE: '2' }).database.poolSize).toBe(2);
  });

  it('with both jobs on, a pool of two is refused: two overlapping runs would hold both connections for their locks and wait for a third', () => {
    expect(configError({ DATABASE_POOL_SIZE: '2', AUDIT_RETENTION_DAYS: '30' }).message).toMatch(
      /DATABASE_POOL_SIZE must be at least 3 while HOUSEKEEPING_ENABLED=true and AUDIT_RETENTION_DAYS > 0/,
    );
    expect(AppConfig.fromEnv({ DATABASE_POOL_SIZE: '3', AUDIT_RETENTION_DAYS: '30' }).database.poolSize).toBe(3);
    expect(AppConfig.fromEnv({ DATABASE_POOL_SIZE: '2', AUDIT_RETENTION_DAYS: '30', HOUSEKEEPING_ENABLED: 'false' }).database.poolSize).toBe(2);
  });
});
