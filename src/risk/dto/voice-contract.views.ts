import { ApiProperty } from '@nestjs/swagger';

export const VOICE_CONTRACT_STATUSES = ['confirmed', 'absent', 'unknown', 'checking', 'none'] as const;
export const VOICE_CHECK_METHODS = ['ivr_outbound', 'ivr_inbound', 'voice_otp'] as const;

/** One call of a check. */
export class VoiceCheckCallView {
  @ApiProperty({ example: 'twilio' }) provider!: string;
  @ApiProperty({ nullable: true, type: String, example: 'CA0123456789abcdef0123456789abcdef', description: 'The provider\'s call id; null when it refused to place the call.' }) callId!: string | null;
  @ApiProperty({
    enum: ['key_pressed', 'no_key', 'voicemail', 'busy', 'no_answer', 'unallocated', 'out_of_service', 'rejected', 'unavailable', 'route_error', 'caller_id_matched'],
    description: '`key_pressed` whatever key was pressed: only the expected one confirms. `caller_id_matched`: the person\'s call of an inbound check.',
  })
  outcome!: string;
  @ApiProperty({ nullable: true, type: 'integer', example: 200 }) sipResponseCode!: number | null;
  @ApiProperty({ format: 'date-time' }) endedAt!: string;
}

/** One voice-contract check of the number. */
export class VoiceCheckView {
  @ApiProperty({ example: 'vck_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) checkId!: string;
  @ApiProperty({ enum: ['checking', 'confirmed', 'absent', 'unknown'], example: 'confirmed' }) status!: string;
  @ApiProperty({ enum: VOICE_CHECK_METHODS }) method!: string;
  @ApiProperty({ nullable: true, type: String, example: 'cli_01JD3Y8N6W2Q5V7X9Z1B3C5D7F', description: 'The client whose start asked for the check.' }) clientId!: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'twilio', description: 'The provider of the call that decided it.' }) provider!: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'CA0123456789abcdef0123456789abcdef' }) callId!: string | null;
  @ApiProperty({ format: 'date-time' }) startedAt!: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) checkedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) expiresAt!: string | null;
  @ApiProperty({ type: [VoiceCheckCallView], description: 'Its calls, oldest first.' }) calls!: VoiceCheckCallView[];
}

/** GET /v1/admin/voice-contracts/{e164}: the number's record and the checks that made it. */
export class VoiceContractRecordView {
  @ApiProperty({ example: '+81*******5678' }) phoneNumber!: string;
  @ApiProperty({
    enum: VOICE_CONTRACT_STATUSES,
    description:
      'What screening would go by now: `confirmed` or `absent` until expiresAt, `checking` while a check runs, `unknown` when the last check ' +
      'found nothing, `none` when there is no record or it expired.',
  })
  status!: string;
  @ApiProperty({ enum: VOICE_CHECK_METHODS, nullable: true, type: String, example: 'ivr_outbound' }) method!: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'twilio' }) provider!: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'CA0123456789abcdef0123456789abcdef' }) callId!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) checkedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) expiresAt!: string | null;
  @ApiProperty({ type: [VoiceCheckView], description: 'The number\'s checks, newest first (at most 50).' }) history!: VoiceCheckView[];
}
