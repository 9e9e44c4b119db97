import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { SCRIPTED_DELIVERIES, SCRIPTED_IVR_OUTCOMES, type ScriptedDelivery, type ScriptedIvrOutcome } from '../../common/test-numbers';

/** POST /v1/admin/clients/{id}/test-numbers. */
export class CreateTestNumberDto {
  @ApiProperty({ example: '+819000000001', pattern: '^\\+[1-9]\\d{6,14}$', maxLength: 16, description: 'The number, in E.164 form.' })
  @IsString()
  @MaxLength(16)
  phoneNumber!: string;

  @ApiPropertyOptional({
    pattern: '^[0-9]{4,10}$',
    example: '424242',
    description:
      'The fixed code its verifications accept (4-10 digits); a start must leave codeLength out or give this length. ' +
      'Left out: the first codeLength digits of 1234567890 (123456 for the default 6 digits).',
  })
  @IsOptional()
  @IsString()
  @Matches(/^[0-9]{4,10}$/, { message: 'code must be 4 to 10 digits' })
  code?: string;

  @ApiPropertyOptional({
    enum: SCRIPTED_DELIVERIES,
    nullable: true,
    description:
      'What its code message does once "sent" (by the `test` provider, which sends nothing): `delivered` / `undelivered` (a receipt: ' +
      '`delivery.status` and the message.delivered / message.undelivered webhook), `failed` (no provider could deliver: the verification ' +
      'fails, verification.failed webhook). null or left out: nothing after `sent`.',
  })
  @IsOptional()
  @IsIn(SCRIPTED_DELIVERIES, { message: `deliveryStatus must be one of ${SCRIPTED_DELIVERIES.join(', ')}, or null` })
  deliveryStatus?: ScriptedDelivery | null;

  @ApiPropertyOptional({
    enum: SCRIPTED_IVR_OUTCOMES,
    default: 'key_pressed',
    description:
      'How its voice-contract check calls end (when the policy asks for a check): `key_pressed` (the expected key: confirmed), `voicemail`, ' +
      '`busy`, `no_answer` (nothing found: retried, then the policy\'s onUnknown), `unallocated` (no such number: absent after the confirming call).',
  })
  @IsOptional()
  @IsIn(SCRIPTED_IVR_OUTCOMES, { message: `ivrOutcome must be one of ${SCRIPTED_IVR_OUTCOMES.join(', ')}` })
  ivrOutcome?: ScriptedIvrOutcome;
}

export class TestNumberView {
  @ApiProperty({ example: 'tst_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ example: '+81*******0001', description: 'Masked.' }) phoneNumber!: string;
  @ApiProperty({ nullable: true, type: 'integer', minimum: 4, maximum: 10, example: null, description: 'Digits of its fixed code; null: the default code. The code itself is never shown.' })
  codeLength!: number | null;
  @ApiProperty({ enum: SCRIPTED_DELIVERIES, nullable: true, example: 'delivered' }) deliveryStatus!: ScriptedDelivery | null;
  @ApiProperty({ enum: SCRIPTED_IVR_OUTCOMES, example: 'key_pressed' }) ivrOutcome!: ScriptedIvrOutcome;
  @ApiProperty({ format: 'date-time', example: '2026-11-24T12:00:00.000Z' }) createdAt!: string;
}

/** GET /v1/admin/clients/{id}/test-numbers: all of them (at most 100 per client), oldest first. */
export class TestNumberListView {
  @ApiProperty({ type: [TestNumberView] }) items!: TestNumberView[];
}
