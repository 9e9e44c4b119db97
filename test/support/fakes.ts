// In-memory stand-ins for the repositories and ports of issuance and verification, so that their services'
// logic is unit-tested without a database (the e2e specs keep the real PostgreSQL). One-line setup:
// `const t = newIssuanceTestService()` / `newVerificationTestService()`, in the manner of immich's newTestService.
import { TestNumbersService } from '../../src/clients/test-numbers.service';
import type { AuditEventInput, AuditService } from '../../src/audit/audit.service';
import type { Principal } from '../../src/common/auth';
import { EventBus } from '../../src/common/events';
import { ProblemException, Problems } from '../../src/common/problem';
import { Tx } from '../../src/common/tx';
import { WebhookDestinations } from '../../src/common/webhook-destinations';
import type { WebhookTarget, WebhookTargets } from '../../src/common/webhook-targets';
import { AppConfig } from '../../src/config/app-config';
import type { Transactions } from '../../src/database/transactions';
import type { OutboxService } from '../../src/gateway/outbox.service';
import type { MessagePayload, OutboxRow, WebhookPayload } from '../../src/gateway/outbox.types';
import { CodeHasher } from '../../src/issuance/code-hasher';
import type { StoredAnswer } from '../../src/issuance/idempotency.repository';
import { IdempotencyRepository } from '../../src/issuance/idempotency.repository';
import { IssuanceService, RequestContext } from '../../src/issuance/issuance.service';
import { MessageComposer } from '../../src/issuance/message-composer';
import { OPEN_STATUSES, TRANSITIONS, TransitionName } from '../../src/issuance/verification-transitions';
import { VerificationViews } from '../../src/issuance/verification-views';
import type { Verification } from '../../src/issuance/verification';
import type { VerificationsRepository } from '../../src/issuance/verifications.repository';
import type { RiskAssessment, RiskScreener, ScreeningInput } from '../../src/risk/risk.port';
import { FakeClock } from './fake-clock';

const TEST_HMAC_KEYS = 'k1:' + 'ab'.repeat(32);

/** A manager that refuses SQL: a fake that forgot a method fails loudly instead of reaching a database. */
const noSql = { query: async (sql: string) => { throw new Error(`unit tests run no SQL: ${sql.slice(0, 60)}`); } } as never;

/** Transactions without a database: the same Tx semantics (after-commit work only after a successful run). */
export class FakeTransactions implements Pick<Transactions, 'reader' | 'run' | 'statement'> {
  readonly reader = new Tx(noSql, 'reader');
  commits = 0;
  rollbacks = 0;
  async run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const tx = new Tx(noSql);
    let value: T;
    try {
      value = await fn(tx);
      await tx.flush();
    } catch (err) {
      this.rollbacks++;
      throw err;
    }
    this.commits++;
    tx.committed((err) => {
      throw err;
    });
    return value;
  }
  async statement(build: (tx: Tx) => void): Promise<void> {
    await this.run(async (tx) => build(tx));
  }
}

const allowed = (name: TransitionName, row: Verification) => (TRANSITIONS[name].from as readonly string[]).includes(row.status);

/** Verifications in a Map, following the declared transition table as the SQL does. Rows written in a transaction that rolls back stay (unit tests check answers, not rollback). */
export class FakeVerifications implements VerificationsRepository {
  readonly rows = new Map<string, Verification>();
  insert(_tx: Tx, row: Verification): void {
    this.rows.set(row.id, { ...row });
  }
  async findOwn(_q: unknown, id: string, clientId: string): Promise<Verification> {
    const row = this.rows.get(id);
    if (!row || row.clientId !== clientId) {
      throw Problems.notFound(`No verification ${id}.`);
    }
    return { ...row };
  }
  async lock(_tx: Tx, id: string) {
    const row = this.rows.get(id);
    return row && { ...row };
  }
  private change(id: string, name: TransitionName, ok: (row: Verification) => boolean, apply: (row: Verification) => void) {
    const row = this.rows.get(id);
    if (!row || !allowed(name, row) || !ok(row)) return undefined;
    apply(row);
    return { ...row };
  }
  async recordCheck(_tx: Tx, id: string, comparedHmac: Buffer, matched: boolean, now: Date) {
    return this.change(id, matched ? 'approve' : 'wrongCode', (r) => r.expiresAt > now && r.codeHmac.equals(comparedHmac), (r) => {
      if (matched) Object.assign(r, { status: 'approved', approvedAt: now });
      else Object.assign(r, { attempts: r.attempts + 1, status: r.attempts + 1 >= r.maxAttempts ? 'locked' : 'pending' });
      r.updatedAt = now;
    });
  }
  async resend(_tx: Tx, id: string, next: { codeHmac: Buffer; codeKeyId: string; channel: 'sms' | 'voice'; sends: number; expiresAt: Date; resendAvailableAt: Date }, now: Date) {
    return this.change(id, 'resend', () => true, (r) =>
      Object.assign(r, { codeHmac: next.codeHmac, codeKeyId: next.codeKeyId, channel: next.channel, sends: next.sends, expiresAt: next.expiresAt, resendAvailableAt: next.resendAvailableAt, updatedAt: now }),
    );
  }
  async cancel(_tx: Tx, id: string, now: Date) {
    return this.change(id, 'cancel', () => true, (r) => Object.assign(r, { status: 'canceled', updatedAt: now }));
  }
  async expire(_tx: Tx, id: string, now: Date) {
    return this.change(id, 'expire', (r) => r.expiresAt <= now, (r) => Object.assign(r, { status: 'expired', updatedAt: now }));
  }
  async supersedeOpen(_tx: Tx, clientId: string, phoneE164: string, now: Date) {
    const open = [...this.rows.values()].filter((r) => r.clientId === clientId && r.phoneE164 === phoneE164 && allowed('supersede', r));
    return open.map((r) => {
      const previousStatus = r.status;
      return { verification: { ...Object.assign(r, { status: 'canceled', updatedAt: now }) }, previousStatus };
    });
  }
  async expireDue(tx: Tx, now: Date, limit: number) {
    const due = [...this.rows.values()].filter((r) => allowed('expire', r) && r.expiresAt <= now).slice(0, limit);
    return (await Promise.all(due.map((r) => this.expire(tx, r.id, now)))).filter((r): r is Verification => !!r);
  }
  async markFailed(_tx: Tx, id: string, now: Date) {
    return this.change(id, 'fail', () => true, (r) => Object.assign(r, { status: 'failed', updatedAt: now }));
  }
  async lockScreening(_tx: Tx, phoneE164: string, now: Date) {
    return [...this.rows.values()].filter((r) => r.phoneE164 === phoneE164 && r.status === 'screening' && r.expiresAt > now).map((r) => ({ ...r }));
  }
  async release(_tx: Tx, id: string, next: { codeHmac: Buffer; codeKeyId: string; expiresAt: Date; resendAvailableAt: Date; risk: Verification['risk'] }, now: Date) {
    return this.change(id, 'release', () => true, (r) => Object.assign(r, { ...next, status: 'pending', sends: 1, updatedAt: now }));
  }
  async deny(_tx: Tx, id: string, risk: Verification['risk'], now: Date) {
    return this.change(id, 'deny', () => true, (r) => Object.assign(r, { status: 'denied', risk, updatedAt: now }));
  }
  async pruneFinal(_q: unknown, before: Date, limit: number) {
    let n = 0;
    for (const [id, r] of this.rows) {
      if (n >= limit) break;
      if (!OPEN_STATUSES.includes(r.status) && r.createdAt < before) n += Number(this.rows.delete(id));
    }
    return n;
  }
}

export class FakeIdempotency implements Pick<IdempotencyRepository, 'storedAnswer' | 'claim' | 'saveAnswer'> {
  readonly keys = new Map<string, { hash: Buffer; answer?: StoredAnswer }>();
  async storedAnswer(_q: unknown, clientId: string, key: string, hash: Buffer) {
    const stored = this.keys.get(`${clientId}/${key}`);
    if (!stored) return undefined;
    if (!stored.hash.equals(hash)) {
      throw new ProblemException(409, 'idempotency_key_reused', 'reused');
    }
    return stored.answer;
  }
  async claim(tx: Tx, clientId: string, key: string, hash: Buffer) {
    const stored = await this.storedAnswer(tx, clientId, key, hash);
    if (stored) return stored;
    if (this.keys.has(`${clientId}/${key}`)) throw new ProblemException(409, 'idempotency_key_in_use', 'in use');
    this.keys.set(`${clientId}/${key}`, { hash });
    return undefined;
  }
  saveAnswer(_tx: Tx, clientId: string, key: string, answer: StoredAnswer) {
    this.keys.get(`${clientId}/${key}`)!.answer = answer;
  }
}

export interface QueuedMessage {
  row: OutboxRow;
  payload: MessagePayload;
  superseded: boolean;
}

/** The outbox: what was queued (plaintext kept for the test), what was dispatched after commit. */
export class FakeOutbox implements Pick<OutboxService, 'queueMessage' | 'queueWebhook' | 'supersedeQueued' | 'newerMessageExists' | 'latestDeliveries'> {
  readonly messages: QueuedMessage[] = [];
  readonly webhooks: Array<{ row: OutboxRow; payload: WebhookPayload; body: { type: string; data: { id: string; status: string } } }> = [];
  readonly dispatched: OutboxRow[] = [];
  private n = 0;
  private row(kind: OutboxRow['kind'], verificationId: string, clientId: string, tx: Tx): OutboxRow {
    const row: OutboxRow = { id: `msg_${++this.n}`, kind, verification_id: verificationId, client_id: clientId, payload: null, attempts: 1, max_attempts: 4, segments: null };
    tx.afterCommit(() => this.dispatched.push(row));
    return row;
  }
  queueMessage(tx: Tx, args: { channel: 'sms' | 'voice'; verificationId: string; clientId: string; payload: MessagePayload; segments: number | null }) {
    const row = this.row(args.channel, args.verificationId, args.clientId, tx);
    this.messages.push({ row, payload: args.payload, superseded: false });
    return row;
  }
  queueWebhook(tx: Tx, args: { verificationId: string; clientId: string; payload: WebhookPayload }) {
    const row = this.row('webhook', args.verificationId, args.clientId, tx);
    this.webhooks.push({ row, payload: args.payload, body: JSON.parse(args.payload.body) });
    return row;
  }
  /** Marks the verification's earlier messages (the real outbox skips those still waiting for a retry). */
  supersedeQueued(_tx: Tx, verificationId: string) {
    for (const m of this.messages) if (m.row.verification_id === verificationId) m.superseded = true;
  }
  async newerMessageExists(_q: unknown, verificationId: string, outboxId: string) {
    const mine = this.messages.filter((m) => m.row.verification_id === verificationId);
    return mine.findIndex((m) => m.row.id === outboxId) < mine.length - 1;
  }
  async latestDeliveries(_q: unknown, ids: string[]) {
    return new Map(ids.flatMap((id) => {
      const last = this.messages.filter((m) => m.row.verification_id === id).at(-1);
      return last ? [[id, { status: 'queued', provider: null, attempts: 1, updatedAt: '2026-11-24T12:00:00.000Z' }] as const] : [];
    }));
  }
  /** The code the person would read in the last message to this verification. */
  codeOf(verificationId: string): string {
    const last = this.messages.filter((m) => m.row.verification_id === verificationId).at(-1);
    if (!last) throw new Error(`no message queued for ${verificationId}`);
    return /(\d{4,10})/.exec(last.payload.body)![1];
  }
}

export class FakeAudit implements Pick<AuditService, 'record' | 'defer'> {
  readonly events: AuditEventInput[] = [];
  async record(_q: unknown, event: AuditEventInput) {
    this.events.push(event);
    return `evt_${this.events.length}`;
  }
  defer(_tx: Tx, events: AuditEventInput[]) {
    this.events.push(...events);
  }
  types(): string[] {
    return this.events.map((e) => e.type);
  }
}

/** Screening with a decision the test sets; counts what the real velocity rules would count. */
export class FakeRisk implements RiskScreener {
  decision: RiskAssessment = { decision: 'allow', reasons: [], rules: [] };
  readonly screened: ScreeningInput[] = [];
  readonly sends: string[] = [];
  resendError?: Error;
  async screen(_tx: Tx, input: ScreeningInput) {
    this.screened.push(input);
    return this.decision;
  }
  async lockNumber() {}
  async screenResend() {
    if (this.resendError) throw this.resendError;
  }
  channelDenials() {
    return [];
  }
  checkError?: Error;
  async screenCheck() {
    if (this.checkError) throw this.checkError;
  }
  recordSend(_tx: Tx, phone: string) {
    this.sends.push(phone);
  }
}

export class FakeWebhookTargets implements WebhookTargets {
  readonly targets = new Map<string, WebhookTarget>();
  async webhookTargetOf(_q: unknown, clientId: string) {
    return this.targets.get(clientId);
  }
  async disableEndpoint(_q: unknown, clientId: string, url: string, now: Date) {
    const target = this.targets.get(clientId);
    if (!target || target.url !== url || target.disabledAt) return false;
    target.disabledAt = now;
    return true;
  }
}

export function testConfig(env: Record<string, string> = {}): AppConfig {
  return AppConfig.fromEnv({ NODE_ENV: 'test', OTP_HMAC_KEYS: TEST_HMAC_KEYS, DATABASE_URL: 'postgres://unused@127.0.0.1:1/none', ...env });
}

export function principal(overrides: Partial<Principal> = {}): RequestContext {
  return {
    principal: { clientId: 'cli_A', clientName: 'a', keyId: 'key_A', scopes: ['verifications:write', 'verifications:check'], maxCheckAttempts: null, requestsPerMinute: null, countries: null, numberTypes: null, voiceContract: null, pumping: null, webhookUrl: null, ...overrides },
    ip: '203.0.113.7',
  };
}

/** The shared parts, real where they are pure (key ring, message text, event bus, views), fake where they hold state. */
export function parts(env: Record<string, string>) {
  const config = testConfig(env);
  const clock = new FakeClock();
  const transactions = new FakeTransactions();
  const verifications = new FakeVerifications();
  const outbox = new FakeOutbox();
  const audit = new FakeAudit();
  const events = new EventBus();
  const hasher = new CodeHasher(config);
  const views = new VerificationViews(outbox as unknown as OutboxService);
  return { config, clock, transactions, verifications, outbox, audit, events, hasher, views };
}

export function newIssuanceTestService(env: Record<string, string> = {}) {
  const p = parts(env);
  const idempotency = new FakeIdempotency();
  const risk = new FakeRisk();
  const sut = new IssuanceService(
    p.transactions as unknown as Transactions, p.clock, p.config, p.verifications, idempotency as unknown as IdempotencyRepository, p.views, p.hasher,
    new MessageComposer(p.config), p.outbox as unknown as OutboxService, p.audit as unknown as AuditService, p.events, risk,
    new WebhookDestinations(p.config.webhookDestinations),
    // A client without test numbers: the lookup answers none (the e2e specs cover test numbers).
    { match: async () => undefined } as unknown as TestNumbersService,
  );
  return { sut, ...p, idempotency, risk };
}
