import { Injectable, Logger } from '@nestjs/common';
import { Counter } from 'prom-client';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { newId } from '../common/ids';
import { decodeCursor, encodeCursor } from '../common/paging';
import { ProblemException, Problems } from '../common/problem';
import type { Tx } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { Transactions } from '../database/transactions';
import type { ActingAdmin } from './blocklist.service';
import type { SuspensionView } from './dto/suspension.dto';
import { Suspension, SuspensionMode, SuspensionsRepository } from './suspensions.repository';
import type { PumpingUnitKind } from './velocity-rules';

/** The reason code of a start denied by a suspension of this kind of unit. */
export const suspendedReason = (kind: PumpingUnitKind): string => `${kind}_suspended`;

/** An active row of a mode in the list already covers a trip of the key's mode (so no second row is made). */
const COVERED_BY: Record<SuspensionMode, SuspensionMode[]> = { enforce: ['enforce'], record_only: ['enforce', 'record_only'], report: ['report'] };

export const toSuspensionView = (s: Suspension, now: Date): SuspensionView => ({
  id: s.id,
  kind: s.kind,
  value: s.unit,
  mode: s.mode,
  reason: s.reason,
  figures: s.figures,
  active: !s.releasedAt && s.expiresAt.getTime() > now.getTime(),
  createdAt: s.createdAt.toISOString(),
  expiresAt: s.expiresAt.toISOString(),
  releasedAt: s.releasedAt ? s.releasedAt.toISOString() : null,
  releasedBy: s.releasedBy,
});

export interface Trip {
  kind: PumpingUnitKind;
  unit: string;
  mode: SuspensionMode;
  figures: Record<string, unknown>;
  /** The client whose start tripped it. */
  clientId: string;
}

/**
 * Suspensions made by the pumping rules: creating one when a unit trips (audited as `risk.suspended`, or
 * `risk.pumping_detected` when it suspends nothing: a `record_only` client's traffic, or the home country),
 * listing them and releasing them (admin routes, audited as `suspension.released`).
 */
@Injectable()
export class SuspensionsService {
  private readonly logger = new Logger(SuspensionsService.name);
  /** Trips per unit kind and mode; registered in the application's registry (app.factory.ts). */
  readonly trips = new Counter({
    name: 'otp_risk_pumping_trips_total',
    help: 'Units (number prefix, country, end-user IP) that tripped an SMS-pumping rule, by kind and mode (enforce, record_only, report)',
    labelNames: ['kind', 'mode'] as const,
    registers: [],
  });

  constructor(
    private readonly repo: SuspensionsRepository,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly config: AppConfig,
  ) {}

  /**
   * Records a trip in the start's transaction: a suspension for RISK_SUSPENSION_HOURS (unless the unit already has
   * an active one covering it), its audit event, a warning log line and the metric (after commit). Undefined
   * when another start recorded the same trip first, or is recording a trip of the unit at this moment.
   */
  async trip(tx: Tx, t: Trip, now: Date): Promise<Suspension | undefined> {
    const row: Suspension = {
      id: newId('sus', now.getTime()),
      kind: t.kind,
      unit: t.unit,
      mode: t.mode,
      reason: suspendedReason(t.kind),
      figures: t.figures,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.config.risk.pumping.suspensionMs),
      releasedAt: null,
      releasedBy: null,
    };
    const made = await this.repo.insertUnlessActive(tx, row, COVERED_BY[t.mode]);
    if (!made) return undefined;
    this.audit.defer(tx, [
      {
        type: made.mode === 'enforce' ? 'risk.suspended' : 'risk.pumping_detected',
        actor: { type: 'system', id: null },
        clientId: t.clientId,
        data: { suspensionId: made.id, kind: made.kind, unit: made.unit, mode: made.mode, reason: made.reason, figures: made.figures, expiresAt: made.expiresAt },
      },
    ]);
    tx.afterCommit(() => {
      this.trips.inc({ kind: made.kind, mode: made.mode });
      const what = made.mode === 'enforce' ? 'suspended' : made.mode === 'report' ? 'reported (the home country is never suspended)' : 'recorded (record_only: nothing suspended)';
      this.logger.warn({ suspensionId: made.id, kind: made.kind, unit: made.unit, mode: made.mode, figures: made.figures }, `SMS pumping suspected on ${made.kind} ${made.unit}: ${what}`);
    });
    return made;
  }

  async list(limit: number, cursor: string | undefined, activeOnly: boolean): Promise<{ items: SuspensionView[]; nextCursor: string | null }> {
    const now = this.clock.now();
    const beforeId = cursor === undefined ? undefined : decodeCursor(cursor, ({ i, ...rest }) => (!Object.keys(rest).length && typeof i === 'string' && /^sus_[0-9A-Z]{26}$/.test(i) ? i : undefined));
    const rows = await this.repo.list(this.transactions.reader, limit, { beforeId, activeAt: activeOnly ? now : undefined });
    const items = rows.slice(0, limit);
    return { items: items.map((s) => toSuspensionView(s, now)), nextCursor: rows.length > limit ? encodeCursor({ i: items[items.length - 1].id }) : null };
  }

  /** Ends an active suspension at once (audited); 404 for none, 409 when it already ended. */
  async release(id: string, by: ActingAdmin): Promise<SuspensionView> {
    return this.transactions.run(async (tx) => {
      const now = this.clock.now();
      const released = await this.repo.release(tx, id, by.actor.id ?? null, now);
      if (!released) {
        const found = await this.repo.find(tx, id);
        if (!found) throw Problems.notFound(`No suspension ${id}.`);
        throw new ProblemException(409, 'conflict', `Suspension ${id} is no longer active (${found.releasedAt ? 'released' : 'expired'}).`);
      }
      await this.audit.record(tx, {
        type: 'suspension.released',
        actor: by.actor,
        ip: by.ip,
        data: { suspensionId: released.id, kind: released.kind, unit: released.unit, mode: released.mode, reason: released.reason, createdAt: released.createdAt, expiresAt: released.expiresAt },
      });
      return toSuspensionView(released, now);
    });
  }
}
