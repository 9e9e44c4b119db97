// TEMPORARY stub with the agreed interface, replaced by the audit module (branch audit) at merge.
import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { newId } from '../common/ids';

export type AuditActorType = 'client' | 'admin' | 'system' | 'provider';
export interface AuditEventInput {
  type: string;
  actor: { type: AuditActorType; id?: string | null };
  clientId?: string | null;
  verificationId?: string | null;
  phoneNumber?: string | null;
  ip?: string | null;
  data?: Record<string, unknown>;
}
@Injectable()
export class AuditService {
  async record(_manager: EntityManager, _event: AuditEventInput): Promise<string> {
    return newId('evt');
  }
}
