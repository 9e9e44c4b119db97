import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { SCOPES, type VoiceContractPolicy } from '../../common/auth';
import { POLICY_NUMBER_TYPES } from '../../common/phone';

export class ApiKeyView {
  @ApiProperty({ example: 'key_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ description: 'Public part of the key, shown to tell keys apart.', example: 'Ab12Cd34Ef56' }) prefix!: string;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:00:00.000Z' }) createdAt!: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time', example: '2026-11-24T12:30:00.000Z' }) lastUsedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time', example: null }) revokedAt!: string | null;
}

export class CreatedKeyView extends ApiKeyView {
  @ApiProperty({ description: 'The API key. Shown only in this answer; store it now.', example: 'otp_Ab12Cd34Ef56_…', pattern: '^otp_' })
  key!: string;
}

export class ApiClientView {
  @ApiProperty({ example: 'cli_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ example: 'payments' }) name!: string;
  @ApiProperty({ enum: SCOPES, isArray: true, example: ['verifications:write', 'verifications:check'] }) scopes!: string[];
  @ApiProperty({ nullable: true, type: String, example: 'https://bank.internal/hooks/otp' }) webhookUrl!: string | null;
  @ApiProperty({ nullable: true, type: 'integer', minimum: 1, maximum: 20, example: null, description: 'Wrong codes allowed per verification; null: OTP_MAX_ATTEMPTS.' })
  maxCheckAttempts!: number | null;
  @ApiProperty({ nullable: true, type: 'integer', minimum: 1, maximum: 1_000_000, example: null, description: 'Requests a minute; null: THROTTLE_LIMIT. Set through the policy route.' })
  requestsPerMinute!: number | null;
  @ApiProperty({ nullable: true, type: [String], example: null, description: 'Countries its starts may use; null: RISK_ALLOWED_COUNTRIES. Set through the policy route.' })
  countries!: string[] | null;
  @ApiProperty({ nullable: true, type: () => NumberTypesPolicyView, description: 'Number types per channel as stored; null (or a channel left out): the service defaults.' })
  numberTypes!: Partial<NumberTypesView> | null;
  @ApiProperty({ nullable: true, type: () => VoiceContractPolicyView, description: 'Voice-contract policy as stored; null (or a field left out): the service defaults.' })
  voiceContract!: Partial<VoiceContractPolicyView> | null;
  @ApiProperty({ nullable: true, enum: ['enforce', 'record_only'], description: 'What a tripped SMS-pumping rule does to its starts; null: RISK_PUMPING_MODE. Set through the policy route.' })
  pumping!: 'enforce' | 'record_only' | null;
  @ApiProperty({
    nullable: true,
    type: String,
    format: 'date-time',
    example: null,
    description: 'Set when the webhook URL answered 410 Gone: nothing is sent there until POST …/webhook-endpoint:enable.',
  })
  webhookDisabledAt!: string | null;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:00:00.000Z' }) createdAt!: string;
  @ApiProperty({ type: [ApiKeyView] }) keys!: ApiKeyView[];
}

export class RotatedWebhookSecretView {
  @ApiProperty({ description: 'The new secret (whsec_…), signing from now on. Shown only in this answer.', pattern: '^whsec_', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })
  webhookSecret!: string;
  @ApiProperty({ format: 'date-time', example: '2026-11-25T12:00:00.000Z', description: 'Until then webhooks carry a second signature made with the previous secret.' })
  previousSecretValidUntil!: string;
}

export class CreatedClientView extends ApiClientView {
  @ApiProperty({ description: 'Secret (whsec_…) that signs result webhooks to this client. Shown only in this answer.', pattern: '^whsec_', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })
  webhookSecret!: string;
  @ApiProperty({ type: CreatedKeyView, description: 'Its first API key.' }) apiKey!: CreatedKeyView;
}

/** Number types allowed per channel (API.md, Admin: a client's policy). */
export class NumberTypesView {
  @ApiProperty({ enum: POLICY_NUMBER_TYPES.sms, isArray: true, example: ['mobile'] }) sms!: string[];
  @ApiProperty({ enum: POLICY_NUMBER_TYPES.voice, isArray: true, example: ['mobile', 'fixed_line'] }) voice!: string[];
}

export const VOICE_CONTRACT_MODES = ['off', 'prefer', 'require'] as const;
export const VOICE_CHECK_METHODS = ['ivr_outbound', 'ivr_inbound'] as const;

/** When a client's starts need the number's voice contract (API.md, Admin: a client's policy). */
export class VoiceContractPolicyView implements Required<VoiceContractPolicy> {
  @ApiProperty({
    enum: VOICE_CONTRACT_MODES,
    description:
      'For purposes not in byPurpose. `off`: no check. `prefer`: the code is sent at once and a check runs beside it when the number has no fresh ' +
      'record. `require`: without a fresh confirmed record the start answers 202 `screening`, the check runs, and the code is sent only once it ' +
      'confirms (absent: `denied` with `no_voice_contract`). Default: RISK_VOICE_CONTRACT_DEFAULT.',
    example: 'off',
  })
  default!: 'off' | 'prefer' | 'require';

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string', enum: [...VOICE_CONTRACT_MODES] },
    description: 'The mode per start purpose, over `default`.',
    example: { transfer: 'require' },
  })
  byPurpose!: Record<string, 'off' | 'prefer' | 'require'>;

  @ApiProperty({
    enum: ['deny', 'allow'],
    description:
      'Where a check is required and found nothing (nobody pressed the key, after the retries): `deny` ends the verification `denied` with ' +
      '`voice_contract_unknown`; `allow` sends the code. Default: RISK_VOICE_CONTRACT_ON_UNKNOWN.',
    example: 'deny',
  })
  onUnknown!: 'deny' | 'allow';

  @ApiProperty({
    enum: VOICE_CHECK_METHODS,
    description:
      '`ivr_outbound`: the service calls the number and asks for a key. `ivr_inbound`: the person calls the service\'s number (RISK_INBOUND_CHECK_NUMBER) ' +
      'from the phone within RISK_INBOUND_CHECK_WINDOW_SECONDS; weaker (caller ids can be spoofed). Default: RISK_VOICE_CONTRACT_METHOD.',
    example: 'ivr_outbound',
  })
  method!: 'ivr_outbound' | 'ivr_inbound';
}

/** The fields of a client's policy (API.md, Admin). */
export const CLIENT_POLICY_FIELDS = ['maxCheckAttempts', 'requestsPerMinute', 'countries', 'numberTypes', 'voiceContract', 'pumping', 'testNumbersInProduction'] as const;
export type ClientPolicyField = (typeof CLIENT_POLICY_FIELDS)[number];

/** A client's number types as stored: a channel left out follows the service default. */
export class NumberTypesPolicyView {
  @ApiPropertyOptional({ enum: POLICY_NUMBER_TYPES.sms, isArray: true, example: ['mobile'] }) sms?: string[];
  @ApiPropertyOptional({ enum: POLICY_NUMBER_TYPES.voice, isArray: true, example: ['mobile', 'fixed_line'] }) voice?: string[];
}

/** GET /v1/admin/clients. */
export class ApiClientListView {
  @ApiProperty({ type: [ApiClientView] }) items!: ApiClientView[];
}

/** A client's effective policy: its own values, and the service's configuration for the fields it has none of. */
export class ClientPolicyView {
  @ApiProperty({ type: 'integer', minimum: 1, maximum: 20, description: 'Wrong codes allowed per verification. Default: OTP_MAX_ATTEMPTS.', example: 5 })
  maxCheckAttempts!: number;

  @ApiProperty({
    type: 'integer',
    minimum: 1,
    maximum: 1_000_000,
    description:
      'Requests a minute for all the client\'s keys and routes, across every instance. Default: THROTTLE_LIMIT per ' +
      'THROTTLE_TTL_SECONDS, shown per minute (THROTTLE_LIMIT itself with the default window of 60 s).',
    example: 6000,
  })
  requestsPerMinute!: number;

  @ApiProperty({
    type: [String],
    description: 'ISO 3166-1 alpha-2 countries whose numbers its starts may use (403 `risk_denied` `country_not_allowed` for others). Default: RISK_ALLOWED_COUNTRIES.',
    example: ['JP'],
  })
  countries!: string[];

  @ApiProperty({
    type: NumberTypesView,
    description:
      'Number types its starts may use per channel (403 `risk_denied` `number_type_not_allowed` for others). ' +
      'Default: RISK_SMS_NUMBER_TYPES and RISK_VOICE_NUMBER_TYPES.',
  })
  numberTypes!: NumberTypesView;

  @ApiProperty({ type: VoiceContractPolicyView, description: 'When starts need a voice-contract check. Default: RISK_VOICE_CONTRACT_DEFAULT, _ON_UNKNOWN and _METHOD.' })
  voiceContract!: VoiceContractPolicyView;

  @ApiProperty({
    enum: ['enforce', 'record_only'],
    description:
      'What a tripped SMS-pumping rule does to its starts: `enforce` (the unit is suspended: 403 `risk_denied` `prefix_suspended`, ' +
      '`country_suspended` or `ip_suspended`) or `record_only` (the trip is recorded, nothing is denied). Default: RISK_PUMPING_MODE.',
    example: 'enforce',
  })
  pumping!: 'enforce' | 'record_only';

  @ApiProperty({
    type: Boolean,
    description:
      'Whether the client\'s test numbers (…/test-numbers) work when NODE_ENV=production. Without it, in production a test number is an ' +
      'ordinary number (sent through the providers) and new ones cannot be added. Outside production test numbers always work. Default: false.',
    example: false,
  })
  testNumbersInProduction!: boolean;

  @ApiProperty({
    enum: CLIENT_POLICY_FIELDS,
    isArray: true,
    readOnly: true,
    description:
      'The fields above that no admin has set for this client: they show the service\'s configuration and follow it when it changes. ' +
      'Read-only: not accepted by PUT.',
    example: ['maxCheckAttempts'],
  })
  defaults!: ClientPolicyField[];
}
