import { Clients1764000000000 } from './1764000000000-clients';
import { Audit1764100000000 } from './1764100000000-audit';
import { Verifications1764200000000 } from './1764200000000-verifications';
import { AuditChainTable1764300000000 } from './1764300000000-audit-chain-table';
import { OpenVerificationsByPhone1764400000000 } from './1764400000000-open-verifications-by-phone';
import { ClientRequestsPerMinute1764500000000 } from './1764500000000-client-requests-per-minute';
import { ClientRiskPolicy1764600000000 } from './1764600000000-client-risk-policy';
import { VoiceCalls1764700000000 } from './1764700000000-voice-calls';
import { WebhookSecretRotation1764800000000 } from './1764800000000-webhook-secret-rotation';
import { Blocklist1764900000000 } from './1764900000000-blocklist';
import { VoiceContracts1765000000000 } from './1765000000000-voice-contracts';
import { RiskVelocity1765100000000 } from './1765100000000-risk-velocity';
import { ProviderRouting1765200000000 } from './1765200000000-provider-routing';
import { TestNumbers1765300000000 } from './1765300000000-test-numbers';
import { RiskCounterShards1765400000000 } from './1765400000000-risk-counter-shards';
import { HousekeepingIndexes1765700000000 } from './1765700000000-housekeeping-indexes';
import { RiskApprovals1765800000000 } from './1765800000000-risk-approvals';
import { OpenExpiryIndex1765900000000 } from './1765900000000-open-expiry-index';
import { AuditClientTimeSeq1766000000000 } from './1766000000000-audit-client-time-seq';
import { RiskCounterShardCollapse1766100000000 } from './1766100000000-risk-counter-shard-collapse';
import { AuditChainInsertCheckPerStatement1766200000000 } from './1766200000000-audit-chain-insert-check-per-statement';
import { AuditTriggerSearchPath1766300000000 } from './1766300000000-audit-trigger-search-path';
import { OutboxDueMessagesIndex1766400000000 } from './1766400000000-outbox-due-messages-index';
import { OpenVoiceChecksIndex1766500000000 } from './1766500000000-open-voice-checks-index';
import { AuditPhonePrefixIndex1766600000000 } from './1766600000000-audit-phone-prefix-index';

/** Every migration in order. A new migration file (npm run migration:create -- migrations/Name, or migration:generate for entity changes) must be added here. */
export const migrations = [
  Clients1764000000000,
  Audit1764100000000,
  Verifications1764200000000,
  AuditChainTable1764300000000,
  OpenVerificationsByPhone1764400000000,
  ClientRequestsPerMinute1764500000000,
  ClientRiskPolicy1764600000000,
  VoiceCalls1764700000000,
  WebhookSecretRotation1764800000000,
  Blocklist1764900000000,
  VoiceContracts1765000000000,
  RiskVelocity1765100000000,
  ProviderRouting1765200000000,
  TestNumbers1765300000000,
  RiskCounterShards1765400000000,
  HousekeepingIndexes1765700000000,
  RiskApprovals1765800000000,
  OpenExpiryIndex1765900000000,
  AuditClientTimeSeq1766000000000,
  RiskCounterShardCollapse1766100000000,
  AuditChainInsertCheckPerStatement1766200000000,
  AuditTriggerSearchPath1766300000000,
  OutboxDueMessagesIndex1766400000000,
  OpenVoiceChecksIndex1766500000000,
  AuditPhonePrefixIndex1766600000000,
];
