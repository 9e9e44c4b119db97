import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { SCOPES } from '../../common/auth';

export class ApiKeyView {
  @ApiProperty({ example: 'key_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ description: 'Public part of the key, shown to tell keys apart.', example: 'Ab12Cd34Ef56' }) prefix!: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) lastUsedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
}

export class CreatedKeyView extends ApiKeyView {
  @ApiProperty({ description: 'The API key. Shown only in this answer; store it now.', example: 'otp_Ab12Cd34Ef56_…' })
  key!: string;
}

export class ApiClientView {
  @ApiProperty({ example: 'cli_01JD3Y8N6W2Q5V7X9Z1B3C5D7F' }) id!: string;
  @ApiProperty({ example: 'payments' }) name!: string;
  @ApiProperty({ enum: SCOPES, isArray: true }) scopes!: string[];
  @ApiProperty({ nullable: true, type: String }) webhookUrl!: string | null;
  @ApiProperty({ nullable: true, type: Number }) maxCheckAttempts!: number | null;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ type: [ApiKeyView] }) keys!: ApiKeyView[];
}

export class CreatedClientView extends ApiClientView {
  @ApiProperty({ description: 'Secret that signs result webhooks to this client. Shown only in this answer.' })
  webhookSecret!: string;
  @ApiPropertyOptional({ type: CreatedKeyView }) apiKey!: CreatedKeyView;
}
