// The declared status transitions (src/issuance/verification-transitions.ts) against the SQL that makes
// them: each guarded repository method is run on a row in every status, and must change exactly the rows
// whose status the table lists as `from`, into a status the table lists as `to`.
import { Transactions } from '../src/database/transactions';
import { STATUSES, VerificationStatus } from '../src/issuance/dto/verification.view';
import { TRANSITIONS, TransitionName } from '../src/issuance/verification-transitions';
import type { Verification } from '../src/issuance/verification';
import { VerificationsRepository } from '../src/issuance/verifications.repository';
import { startTestApp, TestApp } from './support/app';
import { createTestDatabase, TestDatabase } from './support/database';

const HMAC = Buffer.alloc(32, 1);
const NOW = new Date('2026-11-24T12:00:00.000Z');

describe('verification status transitions: every SQL guard matches the declared table', () => {
  let db: TestDatabase;
  let t: TestApp;
  let repo: VerificationsRepository;
  let transactions: Transactions;
  let clientId: string;
  let n = 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await startTestApp(db.url, { EXPIRY_SWEEP_INTERVAL_MS: '600000' });
    repo = t.app.get(VerificationsRepository);
    transactions = t.app.get(Transactions);
    clientId = (await t.createClient()).clientId;
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  /** A verification in `status`; expired (expires_at before NOW) or not. */
  async function rowIn(status: VerificationStatus, expired: boolean): Promise<string> {
    const id = `vrf_T${String(++n).padStart(4, '0')}`;
    const row: Verification = {
      id, clientId, phoneE164: `+8190${String(n).padStart(8, '0')}`, country: 'JP', channel: 'sms', purpose: 'login', locale: 'ja', status,
      codeHmac: HMAC, codeKeyId: 'k1', codeLength: 6, ttlSeconds: 300, attempts: 0, maxAttempts: 2, sends: 1, maxSends: 5,
      expiresAt: new Date(NOW.getTime() + (expired ? -1000 : 300_000)), resendAvailableAt: NOW, transaction: null, reference: null,
      callbackUrl: null, risk: { decision: 'allow', reasons: [], rules: [] }, createdAt: NOW, updatedAt: NOW, approvedAt: null, test: null,
    };
    await transactions.run(async (tx) => repo.insert(tx, row));
    return id;
  }

  const methods: Record<TransitionName, { expired: boolean; run: (id: string) => Promise<Verification | undefined> }> = {
    approve: { expired: false, run: (id) => transactions.run((tx) => repo.recordCheck(tx, id, HMAC, true, NOW)) },
    wrongCode: { expired: false, run: (id) => transactions.run((tx) => repo.recordCheck(tx, id, HMAC, false, NOW)) },
    resend: {
      expired: false,
      run: (id) => transactions.run((tx) => repo.resend(tx, id, { codeHmac: HMAC, codeKeyId: 'k1', channel: 'sms', sends: 2, expiresAt: NOW, resendAvailableAt: NOW }, NOW)),
    },
    cancel: { expired: false, run: (id) => transactions.run((tx) => repo.cancel(tx, id, NOW)) },
    supersede: {
      expired: false,
      run: async (id) => {
        const [{ phone_e164: phone }] = await db.query<{ phone_e164: string }>(`SELECT phone_e164 FROM verifications WHERE id = $1`, [id]);
        return (await transactions.run((tx) => repo.supersedeOpen(tx, clientId, phone, NOW))).find((x) => x.verification.id === id)?.verification;
      },
    },
    expire: { expired: true, run: (id) => transactions.run((tx) => repo.expire(tx, id, NOW)) },
    fail: { expired: false, run: (id) => transactions.run((tx) => repo.markFailed(tx, id, NOW)) },
    release: {
      expired: false,
      run: (id) =>
        transactions.run((tx) => repo.release(tx, id, { codeHmac: HMAC, codeKeyId: 'k1', expiresAt: NOW, resendAvailableAt: NOW, risk: { decision: 'allow', reasons: [], rules: [] } }, NOW)),
    },
    deny: { expired: false, run: (id) => transactions.run((tx) => repo.deny(tx, id, { decision: 'deny', reasons: ['no_voice_contract'], rules: [] }, NOW)) },
  };

  it('every declared transition has a method here (a new one must be added to this test)', () => {
    expect(Object.keys(methods).sort()).toEqual(Object.keys(TRANSITIONS).sort());
  });

  for (const name of Object.keys(TRANSITIONS) as TransitionName[]) {
    it(`${name}: changes exactly ${TRANSITIONS[name].from.join(', ')} → ${TRANSITIONS[name].to.join(' | ')}`, async () => {
      for (const status of STATUSES) {
        const id = await rowIn(status, methods[name].expired);
        const changed = await methods[name].run(id);
        const [after] = await db.query<{ status: string }>(`SELECT status FROM verifications WHERE id = $1`, [id]);
        const allowed = (TRANSITIONS[name].from as readonly string[]).includes(status);
        expect({ status, changed: !!changed }).toEqual({ status, changed: allowed });
        if (allowed) expect(TRANSITIONS[name].to).toContain(after.status);
        else expect(after.status).toBe(status);
      }
    });
  }

  it('a check of a pending verification past its expiry changes nothing (the expires_at guard)', async () => {
    const id = await rowIn('pending', true);
    expect(await methods.approve.run(id)).toBeUndefined();
    expect(await methods.wrongCode.run(id)).toBeUndefined();
    expect(await db.query(`SELECT status, attempts FROM verifications WHERE id = $1`, [id])).toEqual([{ status: 'pending', attempts: 0 }]);
  });

  it('the last wrong code locks (wrongCode → locked at max_attempts)', async () => {
    const id = await rowIn('pending', false);
    expect((await methods.wrongCode.run(id))?.status).toBe('pending');
    expect((await methods.wrongCode.run(id))?.status).toBe('locked');
  });

  it('expireDue (the sweeper) takes exactly the expire guard, and only rows past their expiry', async () => {
    await db.query(`DELETE FROM verifications`);
    const ids = new Map<string, VerificationStatus>();
    for (const status of STATUSES) ids.set(await rowIn(status, true), status);
    const fresh = await rowIn('pending', false);
    const expired = await transactions.run((tx) => repo.expireDue(tx, NOW, 100));
    const taken = expired.map((r) => ids.get(r.id)).sort();
    expect(taken).toEqual([...TRANSITIONS.expire.from].sort());
    expect(expired.map((r) => r.id)).not.toContain(fresh);
  });
});
