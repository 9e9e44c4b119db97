import { AuditChainLinkEntity } from '../audit/entities/audit-chain-link.entity';
import { AuditCheckpointEntity } from '../audit/entities/audit-checkpoint.entity';
import { AuditEventEntity } from '../audit/entities/audit-event.entity';
import { ApiClient } from '../clients/entities/api-client.entity';
import { ApiKey } from '../clients/entities/api-key.entity';

/** Every entity, listed explicitly (no globs: the same list works from ts in tests and js in dist). */
export const entities = [ApiClient, ApiKey, AuditEventEntity, AuditChainLinkEntity, AuditCheckpointEntity];
