import { Injectable, OnModuleInit } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { DomainEvents, EventBus } from '../common/events';
import { ProblemException } from '../common/problem';
import type { Tx } from '../common/tx';
import { Transactions } from '../database/transactions';
import { OutboxService } from '../gateway/outbox.service';
import { CheckLimits } from '../issuance/check-limits';
import { CodeHasher } from '../issuance/code-hasher';
import { clientEvent, notPending, RequestContext, testMarked } from '../issuance/issuance.service';
import { effectiveStatus } from '../issuance/verification-transitions';
import type { Verification } from '../issuance/verification';
import { VerificationsRepository } from '../issuance/verifications.repository';
import { CheckResultView, CheckVerificationDto } from './dto/check.dto';
import { ResultWebhooks } from './result-webhooks';

/**
 * Checking codes, through issuance's transition methods. The decision is one UPDATE guarded by
 * `status = 'pending' AND code_hmac = <the code version we compared against>`: PostgreSQL's row lock
 * serializes concurrent checks, so across any number of instances a right code approves at most once and
 * wrong codes count exactly up to the limit. The code comparison itself (HMAC against HMAC) happens in
 * constant time before the UPDATE. Also ends verifications whose code could not be delivered.
 */
@Injectable()
export class VerificationService implements OnModuleInit {
  constructor(
    private readonly transactions: Transactions,
    private readonly clock: Clock,
    private readonly verifications: VerificationsRepository,
    private readonly hasher: CodeHasher,
    private readonly limits: CheckLimits,
    private readonly webhooks: ResultWebhooks,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
    private readonly events: EventBus,
  ) {}

  onModuleInit(): void {
    this.events.subscribe('message.failed', 'VerificationService.onMessageFailed', (tx, e) => this.onMessageFailed(tx, e));
    this.events.subscribe('verification.denied', 'VerificationService.onDenied', async (tx, e) => {
      const row = await this.verifications.lock(tx, e.verificationId);
      if (row) await this.webhooks.enqueue(tx, row, 'verification.denied', e.at);
    });
  }

  async check(ctx: RequestContext, id: string, dto: CheckVerificationDto): Promise<CheckResultView> {
    for (let round = 0; ; round++) {
      const now = this.clock.now();
      const row = await this.verifications.findOwn(this.transactions.reader, id, ctx.principal.clientId);
      if (dto.code.length !== row.codeLength) {
        throw new ProblemException(400, 'validation_failed', `code must be exactly ${row.codeLength} digits.`, {
          errors: [{ field: 'code', message: `must be exactly ${row.codeLength} digits` }],
        });
      }
      const status = effectiveStatus(row, now);
      if (status === 'expired' && row.status !== 'expired') await this.expire(row.id, now);
      if (status !== 'pending') throw notPending(status);

      const matched = this.hasher.matches(row, dto.code, dto.transaction ?? null);
      const updated = await this.transactions.run(async (tx) => {
        await this.limits.assertCanCheck(tx, row, now);
        // The clock again once the number's lock is ours: a check that waited for it past the expiry is too late.
        const at = this.clock.now();
        const changed = await this.verifications.recordCheck(tx, row.id, row.codeHmac, matched, at);
        if (changed) await this.recordOutcome(tx, ctx, changed, matched, !!dto.transaction, at);
        return changed;
      });
      if (updated) return { id: updated.id, status: updated.status, valid: matched, attemptsRemaining: Math.max(0, updated.maxAttempts - updated.attempts) };
      // The row changed between the read and the UPDATE: approved, locked, canceled or expired by another
      // request (answer with its status), or a resend replaced the code (compare again with the new one).
      if (round >= 3) throw new ProblemException(409, 'conflict', 'The verification changed while it was being checked; retry.');
    }
  }

  /** The audit events, domain events and result webhook of one decided check (its writes join one statement). */
  private async recordOutcome(tx: Tx, ctx: RequestContext, updated: Verification, matched: boolean, transactionPresented: boolean, now: Date): Promise<void> {
    const subject = { verificationId: updated.id, clientId: updated.clientId, phoneE164: updated.phoneE164, at: now, ...(updated.test ? { test: true } : {}) };
    const locked = !matched && updated.status === 'locked';
    // The audit events first, then the domain events: a subscriber's own audit events follow the fact they react to.
    if (matched) {
      this.audit.defer(tx, [clientEvent(ctx, updated, 'verification.approved', { attempts: updated.attempts + 1 })]);
      await this.events.publish(tx, 'verification.approved', Object.assign({}, subject, { country: updated.country, channel: updated.channel }));
    } else {
      this.audit.defer(tx, [
        clientEvent(ctx, updated, 'verification.check_failed', { attemptsRemaining: updated.maxAttempts - updated.attempts, transactionPresented }),
        ...(locked ? [clientEvent(ctx, updated, 'verification.locked', { attempts: updated.attempts })] : []),
      ]);
      await this.events.publish(tx, 'verification.check_failed', subject);
      if (locked) await this.events.publish(tx, 'verification.locked', subject);
    }
    const result = matched ? 'verification.approved' : locked ? 'verification.locked' : undefined;
    if (result) await this.webhooks.enqueue(tx, updated, result, now, ctx.principal.webhookUrl);
  }

  /** Marks one open verification expired (its status already reads so) with its audit event and webhook. */
  async expire(id: string, now: Date): Promise<void> {
    await this.transactions.run(async (tx) => {
      const row = await this.verifications.expire(tx, id, now);
      if (row) await this.onExpired(tx, row, now);
    });
  }

  async onExpired(tx: Tx, row: Verification, now: Date): Promise<void> {
    await this.audit.record(tx, {
      type: 'verification.expired',
      actor: { type: 'system', id: 'expiry' },
      clientId: row.clientId,
      verificationId: row.id,
      phoneNumber: row.phoneE164,
      data: testMarked(row, { attempts: row.attempts, sends: row.sends, expiresAt: row.expiresAt.toISOString() }),
    });
    await this.webhooks.enqueue(tx, row, 'verification.expired', now);
  }

  /**
   * No provider could deliver the code: the verification fails (if still pending and no newer code was
   * queued by a resend) and the caller is told. The row lock orders this against a concurrent resend.
   */
  private async onMessageFailed(tx: Tx, e: DomainEvents['message.failed']): Promise<void> {
    const locked = await this.verifications.lock(tx, e.verificationId);
    if (!locked || locked.status !== 'pending') return;
    if (await this.outbox.newerMessageExists(tx, e.verificationId, e.outboxId)) return;
    const row = await this.verifications.markFailed(tx, e.verificationId, e.at);
    if (!row) return;
    await this.audit.record(tx, {
      type: 'verification.failed',
      actor: { type: 'system', id: 'dispatcher' },
      clientId: row.clientId,
      verificationId: row.id,
      phoneNumber: row.phoneE164,
      data: testMarked(row, { outboxId: e.outboxId, channel: e.channel }),
    });
    await this.webhooks.enqueue(tx, row, 'verification.failed', e.at);
  }
}
