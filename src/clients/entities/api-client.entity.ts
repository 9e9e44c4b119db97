import { Column, Entity, PrimaryColumn } from 'typeorm';

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

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'disabled_at', type: 'timestamptz', nullable: true })
  disabledAt!: Date | null;
}
