// VerificationService on the in-memory repositories of ./fakes (kept apart so that issuance's spec does not
// import the verification module, which sits above it).
import type { AuditService } from '../../src/audit/audit.service';
import type { Transactions } from '../../src/database/transactions';
import type { OutboxService } from '../../src/gateway/outbox.service';
import { CheckLimits } from '../../src/issuance/check-limits';
import { ResultWebhooks } from '../../src/verification/result-webhooks';
import { VerificationService } from '../../src/verification/verification.service';
import { FakeWebhookTargets, newIssuanceTestService } from './fakes';

export function newVerificationTestService(env: Record<string, string> = {}) {
  const issuance = newIssuanceTestService(env);
  const targets = new FakeWebhookTargets();
  const webhooks = new ResultWebhooks(issuance.outbox as unknown as OutboxService, issuance.views, targets, issuance.verifications, issuance.events);
  const sut = new VerificationService(
    issuance.transactions as unknown as Transactions, issuance.clock, issuance.verifications, issuance.hasher, new CheckLimits(issuance.risk), webhooks,
    issuance.outbox as unknown as OutboxService, issuance.audit as unknown as AuditService, issuance.events,
  );
  sut.onModuleInit();
  return { ...issuance, issuance: issuance.sut, sut, targets, webhooks };
}
