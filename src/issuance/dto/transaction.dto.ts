import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { IsCurrencyCode, IsDisplayText, NoCredential } from '../../common/input-text';

/** The transaction a code is bound to (dynamic linking, as PSD2 asks). */
export class TransactionDto {
  @ApiProperty({ example: '150000', pattern: '^\\d{1,15}(\\.\\d{1,4})?$', description: 'Decimal string, up to 15 integer and 4 fraction digits.' })
  @IsString()
  @Matches(/^\d{1,15}(\.\d{1,4})?$/, { message: 'amount must be a decimal string such as "150000" or "12.50"' })
  amount!: string;

  @ApiProperty({ example: 'JPY', pattern: '^[A-Za-z]{3}$', description: 'ISO 4217 code (any case).' })
  @IsString()
  @IsCurrencyCode()
  currency!: string;

  @ApiProperty({
    example: 'ACME Ltd',
    minLength: 1,
    maxLength: 100,
    description: 'Shown in the message: at least one visible character; no control or bidirectional-override characters.',
  })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @IsDisplayText()
  @NoCredential()
  payee!: string;
}
