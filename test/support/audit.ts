import { DataSource } from 'typeorm';
import { AuditSequencer } from '../../src/audit/audit-sequencer.service';
import { AuditEventInput, AuditService } from '../../src/audit/audit.service';
import type { TestApp } from './app';
import type { TestDatabase } from './database';
import { waitFor } from './wait';

/** Records events through the real AuditService, each in its own transaction (as a business module would). */
export async function recordEvents(t: TestApp, events: AuditEventInput[]): Promise<string[]> {
  const audit = t.app.get(AuditService);
  const db = t.app.get(DataSource);
  const ids: string[] = [];
  for (const e of events) ids.push(await db.transaction((m) => audit.record(m, e)));
  return ids;
}

/** Chains everything pending now, through the app's own sequencer. */
export async function chainAll(t: TestApp): Promise<number> {
  return t.app.get(AuditSequencer).drain();
}

/** Waits until the background sequencers have chained every committed event; returns how long that took. */
export async function waitUntilChained(db: TestDatabase, timeoutMs = 10_000): Promise<number> {
  const started = Date.now();
  let n = -1;
  await waitFor(
    async () => {
      [{ n }] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE seq > (SELECT seq FROM audit_chain_head WHERE id = 1)`);
      return n === 0;
    },
    { timeoutMs, what: () => `the sequencers to chain every event (${n} still unchained)` },
  );
  return Date.now() - started;
}

/** Every page of a listing, following nextCursor. */
export async function listAll(t: TestApp, key: string, query: Record<string, string>, between?: (page: number) => Promise<void>) {
  const items: Array<Record<string, any>> = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const qs = new URLSearchParams({ ...query, ...(cursor ? { cursor } : {}) }).toString();
    const res = await t.request('GET', `/v1/admin/audit-events?${qs}`, { key });
    if (res.status !== 200) throw new Error(`listing answered ${res.status}: ${res.text}`);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    if (!cursor) return items;
    await between?.(page);
  }
  throw new Error('too many pages');
}
