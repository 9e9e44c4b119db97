import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsObject, IsOptional, IsString, Matches, ValidateNested } from 'class-validator';
import { TransactionDto } from '../../issuance/dto/transaction.dto';

export class CheckVerificationDto {
  @ApiProperty({ example: '123456', pattern: '^\\d{4,10}$', description: 'The digits of the code, exactly its length. Anything else is 400 and costs no attempt.' })
  @IsString()
  @Matches(/^\d{4,10}$/, { message: 'code must be 4 to 10 digits' })
  code!: string;

  @ApiPropertyOptional({ type: TransactionDto, description: 'Required, identical, when the verification was started with a transaction.' })
  @IsOptional()
  @IsObject({ message: 'transaction must be an object' })
  @ValidateNested()
  @Type(() => TransactionDto)
  transaction?: TransactionDto;
}

export class CheckResultView {
  @ApiProperty({ example: 'vrf_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ enum: ['pending', 'approved', 'locked'], example: 'approved', description: 'pending after a wrong code with attempts left.' }) status!: string;
  @ApiProperty({ example: true, description: 'Whether this code was right.' }) valid!: boolean;
  @ApiProperty({ type: 'integer', minimum: 0, example: 5, description: 'Wrong codes still allowed.' }) attemptsRemaining!: number;
}
