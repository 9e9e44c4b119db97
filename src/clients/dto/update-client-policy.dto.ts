import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsObject, IsOptional, IsString, Max, Min, ValidateIf, ValidateNested, ValidatorConstraint, ValidatorConstraintInterface, Validate } from 'class-validator';
import { IsBoolean } from 'class-validator';
import { isPhoneCountry, POLICY_NUMBER_TYPES } from '../../common/phone';
import { VOICE_CHECK_METHODS, VOICE_CONTRACT_MODES } from './client.views';

@ValidatorConstraint({ name: 'phoneCountry' })
class PhoneCountry implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'string' && /^[A-Za-z]{2}$/.test(value) && isPhoneCountry(value.toUpperCase());
  }
  defaultMessage(): string {
    return 'countries must hold ISO 3166-1 alpha-2 codes of countries with phone numbers (JP, US…)';
  }
}

const PURPOSE = /^[a-z0-9_.-]{1,64}$/;

@ValidatorConstraint({ name: 'modesByPurpose' })
class ModesByPurpose implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
    const entries = Object.entries(value);
    return entries.length <= 100 && entries.every(([purpose, mode]) => PURPOSE.test(purpose) && (VOICE_CONTRACT_MODES as readonly unknown[]).includes(mode));
  }
  defaultMessage(): string {
    return `voiceContract.byPurpose must map purposes ([a-z0-9_.-]{1,64}, at most 100) to ${VOICE_CONTRACT_MODES.join(', ')}`;
  }
}

/** A client's voice-contract policy; a field left out follows the service default. */
export class VoiceContractPolicyDto {
  @ApiPropertyOptional({ enum: VOICE_CONTRACT_MODES, description: 'For purposes not in byPurpose; default RISK_VOICE_CONTRACT_DEFAULT.' })
  @IsOptional()
  @IsIn(VOICE_CONTRACT_MODES)
  default?: 'off' | 'prefer' | 'require';

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string', enum: [...VOICE_CONTRACT_MODES] }, example: { transfer: 'require' } })
  @IsOptional()
  @Validate(ModesByPurpose)
  byPurpose?: Record<string, 'off' | 'prefer' | 'require'>;

  @ApiPropertyOptional({ enum: ['deny', 'allow'], description: 'Default RISK_VOICE_CONTRACT_ON_UNKNOWN.' })
  @IsOptional()
  @IsIn(['deny', 'allow'])
  onUnknown?: 'deny' | 'allow';

  @ApiPropertyOptional({ enum: VOICE_CHECK_METHODS, description: 'Default RISK_VOICE_CONTRACT_METHOD.' })
  @IsOptional()
  @IsIn(VOICE_CHECK_METHODS)
  method?: 'ivr_outbound' | 'ivr_inbound';
}

/** The number types of a client's policy per channel; a channel left out follows the service default. */
export class NumberTypesPolicyDto {
  @ApiPropertyOptional({ enum: POLICY_NUMBER_TYPES.sms, isArray: true, maxItems: 10, example: ['mobile'], description: 'Types a start over SMS may use; default RISK_SMS_NUMBER_TYPES.' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10)
  @IsIn(POLICY_NUMBER_TYPES.sms, { each: true, message: `numberTypes.sms may hold ${POLICY_NUMBER_TYPES.sms.join(', ')}` })
  sms?: string[];

  @ApiPropertyOptional({
    enum: POLICY_NUMBER_TYPES.voice,
    isArray: true,
    maxItems: 10,
    example: ['mobile', 'fixed_line'],
    description: 'Types a start over a call may use; default RISK_VOICE_NUMBER_TYPES.',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10)
  @IsIn(POLICY_NUMBER_TYPES.voice, { each: true, message: `numberTypes.voice may hold ${POLICY_NUMBER_TYPES.voice.join(', ')}` })
  voice?: string[];
}

/**
 * PUT /v1/admin/clients/{id}/policy. Each field is optional: a field given sets the client's own value, null puts
 * it back to the service's default, a field left out keeps its value (so a caller that knows only some fields
 * changes only those, and fields added later, such as the risk rules' countries and number types, do not
 * reset what older callers never sent). Unknown fields are refused (400).
 */
export class UpdateClientPolicyDto {
  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    minimum: 1,
    maximum: 20,
    description: 'Wrong codes allowed per verification; null: the service default (OTP_MAX_ATTEMPTS).',
    example: 5,
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(20)
  maxCheckAttempts?: number | null;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    minimum: 1,
    maximum: 1_000_000,
    description:
      'Requests a minute for all the client\'s keys and routes, across every instance (429 `rate_limited` past it); ' +
      'null: the service default (THROTTLE_LIMIT per THROTTLE_TTL_SECONDS).',
    example: 6000,
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  requestsPerMinute?: number | null;

  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', pattern: '^[A-Za-z]{2}$' },
    maxItems: 300,
    nullable: true,
    example: ['JP'],
    description:
      'ISO 3166-1 alpha-2 countries (any case) whose numbers the client\'s starts may use; another country is 403 `risk_denied` ' +
      '`country_not_allowed`. An empty list refuses every number. null: the service default (RISK_ALLOWED_COUNTRIES).',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(300)
  @IsString({ each: true })
  @Validate(PhoneCountry, { each: true })
  countries?: string[] | null;

  @ApiPropertyOptional({
    type: NumberTypesPolicyDto,
    nullable: true,
    description:
      'Number types per channel the client\'s starts may use; another is 403 `risk_denied` `number_type_not_allowed`. Replaces the ' +
      'stored value as a whole; a channel left out follows the service default. Types no number can receive by that channel ' +
      '(a fixed line for SMS) are not accepted: they answer 400 `unsupported_number_type` whatever the policy. null: the service defaults.',
  })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsObject({ message: 'numberTypes must be an object' })
  @ValidateNested()
  @Type(() => NumberTypesPolicyDto)
  numberTypes?: NumberTypesPolicyDto | null;

  @ApiPropertyOptional({
    type: VoiceContractPolicyDto,
    nullable: true,
    description:
      'When the client\'s starts need the number\'s voice contract (see the policy answer). Replaces the stored value as a whole; a field left out ' +
      'follows the service default. null: the service defaults.',
    example: { default: 'off', byPurpose: { transfer: 'require' }, onUnknown: 'deny' },
  })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsObject({ message: 'voiceContract must be an object' })
  @ValidateNested()
  @Type(() => VoiceContractPolicyDto)
  voiceContract?: VoiceContractPolicyDto | null;

  @ApiPropertyOptional({
    enum: ['enforce', 'record_only'],
    nullable: true,
    description:
      'What a tripped SMS-pumping rule does to the client\'s starts: `enforce` (starts to a suspended prefix, country or IP are 403 `risk_denied`) ' +
      'or `record_only` (trips and hits are recorded, nothing is denied). null: the service default (RISK_PUMPING_MODE).',
  })
  @IsOptional()
  @IsIn(['enforce', 'record_only'], { message: 'pumping must be enforce or record_only' })
  pumping?: 'enforce' | 'record_only' | null;

  @ApiPropertyOptional({
    type: Boolean,
    nullable: true,
    description:
      'Lets the client\'s test numbers work when NODE_ENV=production (they never reach a provider and accept a fixed code, so a bank allows ' +
      'this only for a sandbox client). null: the default, false.',
    example: false,
  })
  @IsOptional()
  @IsBoolean({ message: 'testNumbersInProduction must be true, false or null' })
  testNumbersInProduction?: boolean | null;
}
