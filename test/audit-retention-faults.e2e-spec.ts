import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { AuditRetention } from '../src/audit/audit-retention.service';
import { chainAll } from './support/audit';
import type { TestDatabase } from './support/database';
import type { TestApp } from './support/app';
import { Stack, startStack } from './support/stack';
import { waitFor } from './support/wait';

/**
 * Audit retention when its archive file or its database fails: an error for the run (logged, retried at the next
 * interval), never an error the process cannot catch, nothing archived, and no file left that would stop the next run.
 */
describe('audit retention: failures of its file and of its database (real PostgreSQL)', () => {
  let stack: Stack;
  let db: TestDatabase;
  let t: TestApp;
  const archiveDir = mkdtempSync(join(tmpdir(), 'otp-retention-faults-'));

  beforeAll(async () => {
    stack = await startStack({ env: { AUDIT_SEQUENCER_ENABLED: 'false', AUDIT_ARCHIVE_DIR: archiveDir, HOUSEKEEPING_ENABLED: 'false' } });
    ({ db, t } = stack);
  });
  afterAll(async () => {
    await stack?.close();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  const retention = () => t.app.get(AuditRetention);
  const count = async (table: string) => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0].n;
  /** New chained events, and the name the next run's archive takes: from the last checkpoint to the chain's head. */
  const nextArchive = async () => {
    await t.createClient();
    await chainAll(t);
    const [{ from, to }] = await db.query<{ from: string; to: string }>(
      `SELECT coalesce((SELECT max(seq) FROM audit_checkpoints), 0) + 1 AS from, (SELECT max(seq) FROM audit_chain) AS to`,
    );
    const pad = (n: string) => String(n).padStart(12, '0');
    return join(archiveDir, `audit-${pad(from)}-${pad(to)}.ndjson`);
  };
  const state = async () => ({ events: await count('audit_events'), checkpoints: await count('audit_checkpoints') });
  const unchanged = async (before: { events: number; checkpoints: number }) => expect(await state()).toEqual(before);
  const sealed = async (archive: string) => {
    const [cp] = await db.query<{ archive_name: string; archive_sha256: string }>(`SELECT archive_name, archive_sha256 FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`);
    expect(cp.archive_name).toBe(archive.slice(archiveDir.length + 1));
    expect(createHash('sha256').update(readFileSync(archive)).digest('hex')).toBe(cp.archive_sha256);
  };

  it('a file that cannot be written, or cannot take its name: the run fails with the error, archives nothing and leaves no file', async () => {
    const archive = await nextArchive();
    const before = await state();
    // A directory where the archive is written (first) or named (last)
    for (const inTheWay of [`${archive}.partial`, archive]) {
      mkdirSync(inTheWay);
      await expect(retention().runOnce(0)).rejects.toMatchObject({ code: 'EISDIR', message: expect.stringContaining(inTheWay) });
      await unchanged(before);
      rmdirSync(inTheWay);
      expect(readdirSync(archiveDir)).toEqual([]);
    }
    expect(await retention().runOnce(0)).toMatchObject({ archived: before.events, archive });
    await sealed(archive);
  });

  it('an archive left by a run that died before its commit is replaced, not a reason to fail every run after it', async () => {
    const archive = await nextArchive();
    const before = await state();
    writeFileSync(archive, '{"a run that died between writing its archive and deleting the events":true}\n');
    writeFileSync(`${archive}.partial`, 'half an archive\n');
    expect(await retention().runOnce(0)).toMatchObject({ archived: before.events, archive });
    await sealed(archive);
    expect(existsSync(`${archive}.partial`)).toBe(false);
  });

  it('its connection cut before the commit: nothing archived, its file removed, and the next run archives', async () => {
    const archive = await nextArchive();
    const before = await state();
    // The run waits to insert its checkpoint (SHARE mode lets it read the table first), and its connection is cut there.
    const blocker = new Client({ connectionString: db.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE audit_checkpoints IN SHARE MODE');
      const run = retention().runOnce(0);
      run.catch(() => undefined);
      const pid = await waitFor(
        async () => (await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO audit_checkpoints%'`))[0]?.pid,
        { what: 'the run to wait to insert its checkpoint' },
      );
      expect(existsSync(archive)).toBe(true); // written and named by then
      await db.query(`SELECT pg_terminate_backend($1)`, [pid]);
      await blocker.query('ROLLBACK');
      await expect(run).rejects.toThrow(/terminat/i);
    } finally {
      await blocker.end();
    }
    await unchanged(before);
    expect(existsSync(archive)).toBe(false);
    expect(await retention().runOnce(0)).toMatchObject({ archived: before.events, archive });
    await sealed(archive);
  });
});
