import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { open as openFile, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, QueryRunner } from 'typeorm';
import { Clock } from '../common/clock';
import { AppConfig } from '../config/app-config';
import { Transactions } from '../database/transactions';
import { ChainVerifier, GENESIS_HASH } from './audit-chain';
import { AuditEventRecord, AuditEventRow, CHAINED_COLUMNS, EVENTS_WITH_LINKS, fromRow, toExportLine } from './audit-rows';
import { AuditService } from './audit.service';

export const RETENTION_LOCK_KEY = 7_351_829_340_518;
/** At most this many events are archived per run, so one run's transaction stays bounded. */
export const MAX_EVENTS_PER_RUN = 200_000;

export interface RetentionRun {
  archived: number;
  checkpoint?: { seq: number; hash: string };
  archive?: string;
  sha256?: string;
}

/**
 * Retention (off unless AUDIT_RETENTION_DAYS > 0): archives the oldest chained events to an NDJSON file
 * (export format, which verifies offline), seals the last archived event as a checkpoint, then deletes the
 * archived events in the same transaction as the checkpoint. The rest of the chain verifies from the
 * checkpoint's hash. The database trigger allows these deletes only at or below a checkpoint, and only in a
 * transaction that sets otp.audit_retention; a checkpoint must match a chained event.
 */
@Injectable()
export class AuditRetention implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('AuditRetention');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly transactions: Transactions,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.audit.retention.days > 0) this.schedule(Math.min(this.config.audit.retention.intervalMs, 60_000));
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      const run = this.runOnce(this.config.audit.retention.days);
      this.running = run;
      run.then(
        (r) => {
          if (r.archived) this.logger.log({ ...r }, `archived ${r.archived} audit events`);
          this.schedule(r.archived >= MAX_EVENTS_PER_RUN ? 1000 : this.config.audit.retention.intervalMs);
        },
        (err: unknown) => {
          this.logger.error({ err }, 'audit retention run failed');
          this.schedule(this.config.audit.retention.intervalMs);
        },
      );
    }, delayMs);
  }

  /** Archives chained events older than `days` days (up to MAX_EVENTS_PER_RUN). One instance at a time. */
  async runOnce(days: number, maxEvents = MAX_EVENTS_PER_RUN): Promise<RetentionRun> {
    const run = await this.transactions.exclusively(RETENTION_LOCK_KEY, (held) => this.archive(days, maxEvents, held));
    return run.ran ? run.value : { archived: 0 };
  }

  private async archive(days: number, maxEvents: number, held: () => boolean): Promise<RetentionRun> {
    const cutoff = new Date(this.clock.now().getTime() - days * 86_400_000);
    const qr = this.db.createQueryRunner();
    await qr.connect();
    try {
      const [cp] = await qr.query(`SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`);
      const start = cp ? { seq: Number(cp.seq), hash: cp.hash as Buffer } : { seq: 0, hash: GENESIS_HASH };
      // The archived part is a prefix of the chain: it ends before the first event that is not old enough.
      const [firstKept] = await qr.query(`SELECT seq FROM audit_events WHERE seq > $1 AND occurred_at >= $2 ORDER BY seq LIMIT 1`, [
        String(start.seq),
        cutoff,
      ]);
      const [head] = await qr.query(`SELECT seq FROM audit_chain_head WHERE id = 1`);
      const limit = firstKept ? Number(firstKept.seq) - 1 : Number(head.seq);
      // The last chained event of the part to archive (seq numbers have gaps), at most maxEvents of them.
      const [{ last: lastSeq }] = await qr.query(
        `SELECT max(seq) AS last FROM (SELECT seq FROM audit_chain WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3) AS part`,
        [String(start.seq), String(limit), maxEvents],
      );
      if (lastSeq === null) return { archived: 0 };
      const upto = Number(lastSeq);

      const dir = resolve(this.config.audit.retention.archiveDir);
      mkdirSync(dir, { recursive: true });
      const name = `audit-${String(start.seq + 1).padStart(12, '0')}-${String(upto).padStart(12, '0')}.ndjson`;
      const path = join(dir, name);
      // Written under a temporary name, renamed once whole and verified. A file already at the archive's name is from a
      // run that did not commit, or from one that archived the same events (read before this run's start): the same
      // bytes either way, as the chain fixes them, so it is replaced.
      const partial = `${path}.partial`;
      let named = false;
      let committing = false;
      try {
        const written = await this.writeArchive(qr, partial, start, upto);
        if (!written.ok) throw new Error(`audit chain does not verify at seq ${written.brokenSeq}: nothing archived (check /v1/admin/audit-events/integrity)`);
        // Another instance may be archiving the same events now: leave it to that one (or to the next run).
        if (!held()) throw new Error('audit retention lost its lock (its database connection ended): nothing archived');
        await rename(partial, path);
        named = true;
        await syncFile(dir); // the name, too, is on disk before the events are deleted

        await qr.startTransaction();
        try {
          await qr.query(`SET LOCAL otp.audit_retention = 'archive'`);
          await qr.query(
            `INSERT INTO audit_checkpoints (seq, hash, last_occurred_at, archived_events, archive_name, archive_sha256, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [String(upto), written.last.hash, written.last.occurredAt, String(written.count), name, written.sha256, this.clock.now()],
          );
          const deleted = await qr.query(`DELETE FROM audit_events WHERE seq > $1 AND seq <= $2`, [String(start.seq), String(upto)], true);
          if (deleted.affected !== written.count) throw new Error(`retention deleted ${deleted.affected} events but archived ${written.count}`);
          await qr.query(`DELETE FROM audit_chain WHERE seq > $1 AND seq <= $2`, [String(start.seq), String(upto)]);
          await this.audit.record(qr.manager, {
            type: 'audit.archived',
            actor: { type: 'system', id: 'retention' },
            data: { fromSeq: start.seq + 1, toSeq: upto, events: written.count, archive: name, archiveSha256: written.sha256, olderThan: cutoff },
          });
          committing = true;
          await qr.commitTransaction();
        } catch (err) {
          await qr.rollbackTransaction().catch(() => undefined);
          throw err;
        }
        return { archived: written.count, checkpoint: { seq: upto, hash: written.last.hash.toString('hex') }, archive: path, sha256: written.sha256 };
      } catch (err) {
        discard(partial);
        // The archive is removed only when no checkpoint names it: a COMMIT that failed may have committed, and a run
        // that lost its lock may have committed the same events' archive meanwhile; it is then their only copy.
        if (named && !committing && !(await this.sealed(name))) discard(path);
        throw err;
      }
    } finally {
      await qr.release();
    }
  }

  /** Whether a checkpoint names the archive; when that cannot be read, it is taken to (the file is kept). */
  private async sealed(name: string): Promise<boolean> {
    const rows: unknown[] = await this.db.query(`SELECT 1 FROM audit_checkpoints WHERE archive_name = $1`, [name]).catch(() => [true]);
    return rows.length > 0;
  }

  /** Streams (from, upto] to the file through a cursor on the run's connection, verifying the chain on the way. */
  private async writeArchive(qr: QueryRunner, path: string, start: { seq: number; hash: Buffer }, upto: number) {
    const verifier = new ChainVerifier(start);
    const sha = createHash('sha256');
    const file = await openFile(path, 'w');
    let count = 0;
    let last: AuditEventRecord | undefined;
    let open = false;
    try {
      await qr.query(`START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`);
      open = true;
      await qr.query(`DECLARE audit_archive NO SCROLL CURSOR FOR SELECT ${CHAINED_COLUMNS} FROM ${EVENTS_WITH_LINKS} WHERE e.seq > $1 AND e.seq <= $2 ORDER BY e.seq`, [
        String(start.seq),
        String(upto),
      ]);
      for (;;) {
        const rows: AuditEventRow[] = await qr.query(`FETCH FORWARD 1000 FROM audit_archive`);
        let chunk = '';
        for (const row of rows) {
          const e = fromRow(row);
          if (!verifier.push(e)) break;
          chunk += JSON.stringify(toExportLine(e)) + '\n';
          count++;
          last = e;
        }
        sha.update(chunk);
        await file.write(chunk);
        if (rows.length < 1000 || verifier.isBroken) break;
      }
      await qr.query(`COMMIT`);
      open = false;
      await file.sync(); // the archive must be on disk before the events it holds are deleted
    } finally {
      if (open) await qr.query(`ROLLBACK`).catch(() => undefined);
      await file.close();
    }
    const result = verifier.finish({ seq: upto, hash: last?.hash ?? start.hash });
    if (!result.ok || !last) return { ok: false as const, brokenSeq: result.firstBrokenSeq ?? start.seq + 1 };
    return { ok: true as const, count, last: { hash: last.hash as Buffer, occurredAt: last.occurredAt }, sha256: sha.digest('hex') };
  }
}

/** Removes the file of a run that did not commit; failing to is not what the run reports (its own error is). */
function discard(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // a directory in the way, say: the run's error is the one that names it
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await openFile(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
