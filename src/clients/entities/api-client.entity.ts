import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { NumberTypesPolicy, VoiceContractPolicy } from '../../common/auth';

@Entity('api_clients')
export class ApiClient {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ type: 'text', unique: true })
  name!: string;

  @Column({ type: 'text', array: true })
  scopes!: string[];

  @Column({ name: 'webhook_url', type: 'text', nullable: true })
  webhookUrl!: string | null;

  /** Secret for signing result webhooks to this client (API.md, Webhooks). */
  @Column({ name: 'webhook_secret', type: 'text' })
  webhookSecret!: string;

  /** The secret before the last rotation, still signing beside the new one until `previousWebhookSecretUntil`. */
  @Column({ name: 'previous_webhook_secret', type: 'text', nullable: true })
  previousWebhookSecret!: string | null;

  @Column({ name: 'previous_webhook_secret_until', type: 'timestamptz', nullable: true })
  previousWebhookSecretUntil!: Date | null;

  /** Set when the client's webhook URL answered 410 Gone: nothing is sent there until an admin enables it again. */
  @Column({ name: 'webhook_disabled_at', type: 'timestamptz', nullable: true })
  webhookDisabledAt!: Date | null;

  /** Wrong codes allowed per verification; null means OTP_MAX_ATTEMPTS. */
  @Column({ name: 'max_check_attempts', type: 'integer', nullable: true })
  maxCheckAttempts!: number | null;

  /** Requests a minute for all the client's keys and routes; null means THROTTLE_LIMIT. */
  @Column({ name: 'requests_per_minute', type: 'integer', nullable: true })
  requestsPerMinute!: number | null;

  /** Countries (ISO 3166-1 alpha-2) the client's starts may use; null means RISK_ALLOWED_COUNTRIES. */
  @Column({ name: 'countries', type: 'text', array: true, nullable: true })
  countries!: string[] | null;

  /** Number types per channel; null (or a channel left out) means RISK_SMS_NUMBER_TYPES / RISK_VOICE_NUMBER_TYPES. */
  @Column({ name: 'number_types', type: 'jsonb', nullable: true })
  numberTypes!: NumberTypesPolicy | null;

  /** When starts need a voice-contract check; null (or a field left out) means RISK_VOICE_CONTRACT_*. */
  @Column({ name: 'voice_contract', type: 'jsonb', nullable: true })
  voiceContract!: VoiceContractPolicy | null;
  /** What a tripped SMS-pumping rule does to its starts (`enforce`, `record_only`); null means RISK_PUMPING_MODE. */
  @Column({ name: 'pumping', type: 'text', nullable: true })
  pumping!: 'enforce' | 'record_only' | null;

  /** Whether its test numbers work when NODE_ENV=production (an admin's explicit choice); null means no. */
  @Column({ name: 'test_numbers_in_production', type: 'boolean', nullable: true })
  testNumbersInProduction!: boolean | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'disabled_at', type: 'timestamptz', nullable: true })
  disabledAt!: Date | null;
}
