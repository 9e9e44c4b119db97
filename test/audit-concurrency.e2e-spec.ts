import { DataSource } from 'typeorm';
import { AuditService } from '../src/audit/audit.service';
import { waitUntilChained } from './support/audit';
import type { TestDatabase } from './support/database';
import type { TestApp } from './support/app';
import { Stack, startStack } from './support/stack';

describe('audit trail: concurrent writers on two instances (real PostgreSQL)', () => {
  let stack: Stack;
  let db: TestDatabase;
  let one: TestApp;
  let two: TestApp;

  beforeAll(async () => {
    // Both instances run their sequencer; the advisory lock lets one chain at a time.
    stack = await startStack({ instances: 2, env: { AUDIT_SEQUENCER_INTERVAL_MS: '10', AUDIT_SEQUENCER_BATCH_SIZE: '7' } });
    ({ db, apps: [one, two] } = stack);
  });
  afterAll(async () => stack?.close());

  it('50 concurrent transactions from two instances end in one unbroken chain: none lost, none duplicated', async () => {
    const committed: string[] = [];
    const rolledBack: string[] = [];
    // Each transaction writes two events and holds its transaction open for a random while, so commit order
    // differs from insert order and the sequencers run while transactions are in flight.
    const work = Array.from({ length: 50 }, (_, i) => {
      const t = i % 2 ? one : two;
      const audit = t.app.get(AuditService);
      return t.app
        .get(DataSource)
        .transaction(async (m) => {
          const ids = [
            await audit.record(m, { type: 'verification.created', actor: { type: 'client', id: `cli_${i}` }, verificationId: `vrf_C${i}`, data: { i } }),
          ];
          await m.query(`SELECT pg_sleep($1)`, [Math.random() * 0.05]);
          ids.push(await audit.record(m, { type: 'message.sent', actor: { type: 'system' }, verificationId: `vrf_C${i}`, data: { i } }));
          if (i % 10 === 9) {
            rolledBack.push(...ids);
            throw new Error('rolled back on purpose');
          }
          return ids;
        })
        .then(
          (ids) => committed.push(...ids),
          (err: Error) => {
            if (err.message !== 'rolled back on purpose') throw err;
          },
        );
    });
    await Promise.all(work);
    expect(committed).toHaveLength(90);
    expect(rolledBack).toHaveLength(10);

    await waitUntilChained(db);
    const rows = await db.query<any>(`SELECT id, seq FROM audit_events WHERE verification_id LIKE 'vrf_C%' ORDER BY seq`);
    expect(rows.map((r) => r.id).sort()).toEqual([...committed].sort());
    // Every event has exactly one link and every link its event; the only unused numbers are the 10 that
    // the rolled back transactions took.
    const pairs = await db.query<any>(`SELECT e.seq AS event, c.seq AS link FROM audit_events e FULL JOIN audit_chain c ON c.seq = e.seq ORDER BY coalesce(e.seq, c.seq)`);
    expect(pairs.filter((r) => r.event === null || r.link === null)).toEqual([]);
    const [{ handedOut, n }] = await db.query<any>(`SELECT (SELECT last_value::int FROM audit_event_seq) AS "handedOut", count(*)::int AS n FROM audit_events`);
    expect(handedOut - n).toBe(10);
    expect(await db.query(`SELECT 1 FROM audit_events WHERE id = ANY($1)`, [rolledBack])).toHaveLength(0);

    const { key } = await one.createClient(['audit:read']);
    for (const t of [one, two]) {
      const res = await t.request('GET', '/v1/admin/audit-events/integrity', { key });
      expect(res.body).toMatchObject({ ok: true });
      expect(res.body.checked).toBeGreaterThanOrEqual(90);
    }
  });
});
