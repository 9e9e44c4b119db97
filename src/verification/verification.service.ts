import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditEventInput, AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { ProblemException } from '../common/problem';
import { combineStatements, SqlParams } from '../common/sql';
import { AppConfig } from '../config/app-config';
import { MessageFailure, OutboxDispatcher } from '../gateway/outbox.dispatcher';
import type { OutboxRow } from '../gateway/outbox.service';
import { codeHmac, hmacEquals } from '../issuance/codes';
import { notPending, RequestContext } from '../issuance/issuance.service';
import { PhoneLimits } from '../issuance/phone-limits';
import { effectiveStatus, VerificationRow, VerificationStore } from '../issuance/verification.store';
import { CheckResultView, CheckVerificationDto } from './dto/check.dto';
import { ResultWebhooks } from './result-webhooks';

/**
 * Checking codes. The decision is one UPDATE guarded by `status = 'pending' AND code_hmac = <the code
 * version we compared against>`: PostgreSQL's row lock serializes concurrent checks, so across any number
 * of instances a right code approves at most once and wrong codes count exactly up to the limit.
 * The code comparison itself (HMAC against HMAC) happens in constant time before the UPDATE.
 */
@Injectable()
export class VerificationService implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly store: VerificationStore,
    private readonly limits: PhoneLimits,
    private readonly webhooks: ResultWebhooks,
    private readonly dispatcher: OutboxDispatcher,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    this.dispatcher.onMessageFailed((m, failure) => this.markDeliveryFailed(m, failure));
  }

  async check(ctx: RequestContext, id: string, dto: CheckVerificationDto): Promise<CheckResultView> {
    for (let round = 0; ; round++) {
      const now = this.clock.now();
      const row = await this.store.findOwn(this.db.manager, id, ctx.principal.clientId);
      if (dto.code.length !== row.code_length) {
        throw new ProblemException(400, 'validation_failed', `code must be exactly ${row.code_length} digits.`, {
          errors: [{ field: 'code', message: `must be exactly ${row.code_length} digits` }],
        });
      }
      const status = effectiveStatus(row, now);
      if (status === 'expired' && row.status !== 'expired') await this.expire(row.id, now);
      if (status !== 'pending') throw notPending(status);

      const key = this.config.otpHmacKeys.find((k) => k.id === row.code_key_id);
      const matched = !!key && hmacEquals(codeHmac(key, row.id, dto.code, dto.transaction ? { ...dto.transaction, currency: dto.transaction.currency.toUpperCase() } : null), row.code_hmac);

      const outcome = await this.db.transaction(async (m) => {
        const [[updated]]: [VerificationRow[], number] = await m.query(
          `UPDATE verifications
              SET status = CASE WHEN $3 THEN 'approved' WHEN attempts + 1 >= max_attempts THEN 'locked' ELSE 'pending' END,
                  attempts = attempts + CASE WHEN $3 THEN 0 ELSE 1 END,
                  approved_at = CASE WHEN $3 THEN $4::timestamptz END,
                  updated_at = $4
            WHERE id = $1 AND status = 'pending' AND expires_at > $4 AND code_hmac = $2
            RETURNING *`,
          [row.id, row.code_hmac, matched, now],
        );
        if (!updated) return undefined;
        const base = { actor: { type: 'client' as const, id: ctx.principal.keyId }, clientId: row.client_id, verificationId: row.id, phoneNumber: row.phone_e164, ip: ctx.ip };
        // The failure count and the audit events in one statement.
        const { p, values } = new SqlParams();
        const statements: string[] = [];
        const events: AuditEventInput[] = [];
        if (matched) {
          events.push({ ...base, type: 'verification.approved', data: { attempts: updated.attempts + 1 } });
        } else {
          statements.push(`INSERT INTO phone_check_failures (phone_e164, failed_at, verification_id) VALUES (${p(row.phone_e164)}, ${p(now)}, ${p(row.id)})`);
          events.push({
            ...base,
            type: 'verification.check_failed',
            data: { attemptsRemaining: updated.max_attempts - updated.attempts, transactionPresented: !!dto.transaction },
          });
          if (updated.status === 'locked') events.push({ ...base, type: 'verification.locked', data: { attempts: updated.attempts } });
        }
        statements.push(this.audit.insertSql(events, p).sql);
        await m.query(combineStatements(statements), values);
        const result = matched ? 'verification.approved' : updated.status === 'locked' ? 'verification.locked' : undefined;
        const queued = result ? await this.webhooks.enqueue(m, updated, result, now, ctx.principal.webhookUrl) : [];
        return { updated, queued };
      });
      if (outcome) {
        this.dispatcher.dispatchSoon(outcome.queued);
        const u = outcome.updated;
        return { id: u.id, status: u.status, valid: matched, attemptsRemaining: Math.max(0, u.max_attempts - u.attempts) };
      }
      // The row changed between the read and the UPDATE: approved, locked, canceled or expired by another
      // request (answer with its status), or a resend replaced the code (compare again with the new one).
      if (round >= 3) throw new ProblemException(409, 'conflict', 'The verification changed while it was being checked; retry.');
    }
  }

  /** Marks one open verification expired (its status already reads so) with its audit event and webhook. */
  async expire(id: string, now: Date): Promise<void> {
    const queued = await this.db.transaction(async (m) => {
      const [rows]: [VerificationRow[], number] = await m.query(
        `UPDATE verifications SET status = 'expired', updated_at = $2 WHERE id = $1 AND status IN ('pending', 'screening') AND expires_at <= $2 RETURNING *`,
        [id, now],
      );
      return rows[0] ? this.onExpired(m, rows[0], now) : [];
    });
    this.dispatcher.dispatchSoon(queued);
  }

  async onExpired(m: EntityManager, row: VerificationRow, now: Date): Promise<OutboxRow[]> {
    await this.audit.record(m, {
      type: 'verification.expired',
      actor: { type: 'system', id: 'expiry' },
      clientId: row.client_id,
      verificationId: row.id,
      phoneNumber: row.phone_e164,
      data: { attempts: row.attempts, sends: row.sends, expiresAt: row.expires_at.toISOString() },
    });
    return this.webhooks.enqueue(m, row, 'verification.expired', now);
  }

  /** No provider could deliver the code: the verification fails (if still open) and the caller is told. */
  private async markDeliveryFailed(m: EntityManager, failure: MessageFailure): Promise<OutboxRow[]> {
    const now = this.clock.now();
    const [rows]: [VerificationRow[], number] = await m.query(
      `UPDATE verifications SET status = 'failed', updated_at = $2
        WHERE id = $1 AND status = 'pending'
          AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.verification_id = $1 AND o.kind IN ('sms', 'voice') AND o.id <> $3 AND o.created_at > (SELECT created_at FROM outbox WHERE id = $3))
        RETURNING *`,
      [failure.verificationId, now, failure.outboxId],
    );
    const row = rows[0];
    if (!row) return [];
    await this.audit.record(m, {
      type: 'verification.failed',
      actor: { type: 'system', id: 'dispatcher' },
      clientId: row.client_id,
      verificationId: row.id,
      phoneNumber: row.phone_e164,
      data: { outboxId: failure.outboxId, channel: failure.channel },
    });
    return this.webhooks.enqueue(m, row, 'verification.failed', now);
  }
}
