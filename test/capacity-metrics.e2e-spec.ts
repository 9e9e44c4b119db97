import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser as promql } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';
import { AuditSequencer } from '../src/audit/audit-sequencer.service';
import { Transactions } from '../src/database/transactions';
import { primaryRegistry } from '../src/metrics/cluster-metrics';
import { FakeClock } from './support/fake-clock';
import { ROOT } from './support/process';
import { Stack, startStack } from './support/stack';
import { waitFor } from './support/wait';

/**
 * The gauges that show an instance or the database nearing a limit (docs/scaling.md, "Seeing it coming"):
 * the pool of connections, how far the audit chain is behind, and the outbox's overdue rows. Read from a real
 * PostgreSQL, with the service's clock moved by hand.
 */
describe('capacity metrics', () => {
  let stack: Stack;
  const clock = new FakeClock(Date.parse('2026-12-05T10:00:00Z'));

  beforeAll(async () => {
    stack = await startStack({
      clock,
      env: {
        DATABASE_POOL_SIZE: '3',
        // Nothing in the background takes a connection or moves a row while the test reads the gauges.
        AUDIT_SEQUENCER_ENABLED: 'false',
        OUTBOX_POLL_INTERVAL_MS: '3600000',
        EXPIRY_SWEEP_INTERVAL_MS: '3600000',
        HOUSEKEEPING_ENABLED: 'false',
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const scrape = async () => (await fetch(`${stack.t.url}/metrics`)).text();
  /** One sample's value as Prometheus reads it (NaN included), or undefined when the sample is not there. */
  const sample = (text: string, series: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(series + ' '));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  it('the alert rules we ship (docs/prometheus-alerts.yml) parse as PromQL and name only metrics the service exports', async () => {
    const file = parseYaml(readFileSync(join(ROOT, 'docs/prometheus-alerts.yml'), 'utf8')) as {
      groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; for?: string; labels: { severity: string }; annotations: { summary: string } }> }>;
    };
    const rules = file.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(8);
    // a single instance's series, and those the primary of a cluster (WORKERS > 1) adds
    const exported = new Set([...((await scrape()) + (await primaryRegistry().registry.metrics())).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    for (const rule of rules) {
      const errors: number[] = [];
      promql.parse(rule.expr).iterate({ enter: (node) => void (node.type.isError && errors.push(node.from)) });
      expect({ alert: rule.alert, syntaxErrorsAt: errors }).toEqual({ alert: rule.alert, syntaxErrorsAt: [] });
      const names = rule.expr.match(/\b(?:otp|nodejs|http)_[a-z0-9_]+/g) ?? [];
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect({ alert: rule.alert, name, exported: exported.has(name) }).toEqual({ alert: rule.alert, name, exported: true });
      expect(['critical', 'warning']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toBeTruthy();
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    // The parser does find a broken expression (so the check above can fail).
    let broken = 0;
    promql.parse('max(otp_audit_chain_lag_seconds) >').iterate({ enter: (node) => void (node.type.isError && broken++) });
    expect(broken).toBeGreaterThan(0);
  });

  it('the audit chain lag is the age of the oldest event not chained yet, read at most every 5 s', async () => {
    await stack.t.createClient(); // writes the client's audit events at the clock's time
    clock.advance(30_000);
    expect(sample(await scrape(), 'otp_audit_chain_lag_seconds')).toBe(30);

    // Within the same 5 s the reading is reused, even though the chain has caught up since.
    await stack.t.app.get(AuditSequencer).drain();
    clock.advance(4_000);
    expect(sample(await scrape(), 'otp_audit_chain_lag_seconds')).toBe(30);
    clock.advance(1_000);
    expect(sample(await scrape(), 'otp_audit_chain_lag_seconds')).toBe(0);
  });

  it('the outbox overdue gauge is, per kind, how long the oldest row due has waited unsent, a send in progress included', async () => {
    const at = (ms: number) => new Date(clock.now().getTime() + ms);
    const insert = (id: string, kind: string, status: string, nextAttemptAt: Date, lockedUntil: Date | null) =>
      stack.db.query(
        `INSERT INTO outbox (id, kind, status, attempts, max_attempts, next_attempt_at, locked_until, created_at, updated_at) VALUES ($1, $2, $3, 1, 5, $4, $5, $6, $6)`,
        [id, kind, status, nextAttemptAt, lockedUntil, clock.now()],
      );
    await insert('obx_metrics_sms_1', 'sms', 'pending', at(0), null); // a retry due now
    await insert('obx_metrics_sms_2', 'sms', 'pending', at(10_000), null); // a retry due 10 s later
    await insert('obx_metrics_voice', 'voice', 'sending', at(-60_000), at(-10_000)); // due a minute ago; its instance died (lease over)
    await insert('obx_metrics_call', 'check_call', 'sending', at(-5_000), at(60_000)); // being sent for 5 s (lease live)
    await insert('obx_metrics_hook', 'webhook', 'pending', at(3_600_000), null); // a retry an hour away: not overdue
    await insert('obx_metrics_hook_failed', 'webhook', 'failed', at(-600_000), null); // given up: never overdue
    await insert('obx_metrics_done', 'check_call', 'done', at(-600_000), null); // sent: never overdue
    clock.advance(42_000);

    const text = await scrape();
    expect(sample(text, 'otp_outbox_overdue_seconds{kind="sms"}')).toBe(42);
    expect(sample(text, 'otp_outbox_overdue_seconds{kind="voice"}')).toBe(102);
    expect(sample(text, 'otp_outbox_overdue_seconds{kind="check_call"}')).toBe(47);
    expect(sample(text, 'otp_outbox_overdue_seconds{kind="webhook"}')).toBe(0);

    await stack.db.query(`UPDATE outbox SET status = 'done', locked_until = NULL WHERE id IN ('obx_metrics_sms_1', 'obx_metrics_voice')`);
    await insert('obx_metrics_hook_due', 'webhook', 'pending', at(-1_000), null); // a webhook retry due a second ago
    clock.advance(5_000);
    const after = await scrape();
    expect(sample(after, 'otp_outbox_overdue_seconds{kind="sms"}')).toBe(37); // the second retry, due 37 s ago
    expect(sample(after, 'otp_outbox_overdue_seconds{kind="voice"}')).toBe(0);
    expect(sample(after, 'otp_outbox_overdue_seconds{kind="check_call"}')).toBe(52);
    expect(sample(after, 'otp_outbox_overdue_seconds{kind="webhook"}')).toBe(6);
  });

  it('the pool gauges show every connection busy and requests waiting; the database gauges then say NaN rather than hold the scrape', async () => {
    expect(sample(await scrape(), 'otp_db_pool_size')).toBe(3);
    const transactions = stack.t.app.get(Transactions);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = [1, 2, 3, 4].map(() => transactions.run(() => gate).catch((err: Error) => err));
    try {
      await waitFor(() => transactions.poolCounts()?.waiting === 1, { what: 'a fourth transaction waiting for a connection' });
      clock.advance(5_000); // a new sample of the database gauges is due
      const started = Date.now();
      const text = await scrape();
      expect(Date.now() - started).toBeLessThan(2_500); // the gauges' 1-s limit, not the pool's 3-s connect timeout
      expect(sample(text, 'otp_db_pool_connections{state="busy"}')).toBe(3);
      expect(sample(text, 'otp_db_pool_connections{state="idle"}')).toBe(0);
      expect(sample(text, 'otp_db_pool_waiting_requests')).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'otp_audit_chain_lag_seconds')).toBeNaN();
      expect(sample(text, 'otp_outbox_overdue_seconds{kind="sms"}')).toBeNaN();
    } finally {
      release();
      await Promise.all(held);
    }
    // The gauges' reads that the scrape stopped waiting for still run once they get a connection: wait for the pool to be quiet.
    await waitFor(() => transactions.poolCounts()?.waiting === 0 && transactions.poolCounts()?.idle === 3, { what: 'every connection idle again' });
    // (Within the same 5 s, so that the scrape reads nothing from the database: its own reads would count as busy.)
    const text = await scrape();
    expect(sample(text, 'otp_db_pool_waiting_requests')).toBe(0);
    expect(sample(text, 'otp_db_pool_connections{state="busy"}')).toBe(0);
    expect(sample(text, 'otp_db_pool_connections{state="idle"}')).toBe(3);
    clock.advance(5_000);
    expect(sample(await scrape(), 'otp_audit_chain_lag_seconds')).toBe(0);
  });
});
