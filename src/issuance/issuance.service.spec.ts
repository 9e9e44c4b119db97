import { ProblemException } from '../common/problem';
import { newIssuanceTestService, principal } from '../../test/support/fakes';

const start = { phoneNumber: '+819012345678', purpose: 'login' };

describe('IssuanceService (in-memory repositories)', () => {
  it('start: stores only the HMAC of the code, queues the message, dispatches it after commit, audits and publishes', async () => {
    const t = newIssuanceTestService();
    const started: unknown[] = [];
    t.events.subscribe('verification.started', 'spec', (_tx, e) => void started.push(e));

    const res = await t.sut.start(principal(), start);

    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'pending', phoneNumber: '+81*******5678', attemptsRemaining: 5, sendsRemaining: 4, delivery: { status: 'queued' } });
    const row = t.verifications.rows.get(res.body.id)!;
    const code = t.outbox.codeOf(res.body.id);
    expect(code).toMatch(/^\d{6}$/);
    // the row keeps only the HMAC: no field holds the code (the id, being random, is left out of the search)
    expect(Object.entries(row).filter(([k, v]) => k !== 'id' && String(v instanceof Date ? '' : v).includes(code))).toEqual([]);
    expect(t.hasher.matches(row, code, null)).toBe(true);
    expect(t.outbox.messages[0].payload.to).toBe('+819012345678');
    expect(t.outbox.dispatched.map((r) => r.id)).toEqual([t.outbox.messages[0].row.id]);
    expect(t.risk.sends).toEqual(['+819012345678']);
    expect(t.audit.types()).toEqual(['verification.created', 'message.queued']);
    expect(JSON.stringify(t.audit.events)).not.toContain(code);
    expect(started).toEqual([expect.objectContaining({ verificationId: res.body.id, status: 'pending', phoneE164: '+819012345678' })]);
  });

  it('start: screening answers 202 and queues no message', async () => {
    const t = newIssuanceTestService();
    t.risk.decision = { decision: 'screen', reasons: ['no_voice_contract'], rules: [] };
    const res = await t.sut.start(principal(), start);
    expect(res).toMatchObject({ status: 202, body: { status: 'screening', delivery: null, risk: { decision: 'screen' } } });
    expect(t.outbox.messages).toHaveLength(0);
    expect(t.risk.sends).toHaveLength(0);
  });

  it('start: a denied number is 403 risk_denied, before anything is written or dispatched', async () => {
    const t = newIssuanceTestService();
    t.risk.decision = { decision: 'deny', reasons: ['blocklisted'], rules: [] };
    const err = await t.sut.start(principal(), start).catch((e) => e);
    expect(err).toBeInstanceOf(ProblemException);
    expect(err).toMatchObject({ status: 403, code: 'risk_denied', extra: { reasons: ['blocklisted'] } });
    expect(t.verifications.rows.size).toBe(0);
    expect(t.outbox.dispatched).toHaveLength(0);
    expect(t.transactions.rollbacks).toBe(1);
  });

  it('start: bad numbers are 400 before any screening', async () => {
    const t = newIssuanceTestService();
    await expect(t.sut.start(principal(), { ...start, phoneNumber: '09012345678' })).rejects.toMatchObject({ status: 400, code: 'invalid_phone_number' });
    await expect(t.sut.start(principal(), { ...start, phoneNumber: '+81312345678' })).rejects.toMatchObject({ status: 400, code: 'unsupported_number_type' });
    await expect(t.sut.start(principal(), { ...start, callbackUrl: 'ftp://x' })).rejects.toMatchObject({ status: 400, code: 'validation_failed' });
    expect(t.risk.screened).toHaveLength(0);
  });

  it('start: the client limit of wrong codes and the transaction binding are kept on the row', async () => {
    const t = newIssuanceTestService();
    const transaction = { amount: '150000', currency: 'jpy', payee: 'ACME Ltd' };
    const res = await t.sut.start(principal({ maxCheckAttempts: 3 }), { ...start, transaction });
    const row = t.verifications.rows.get(res.body.id)!;
    expect(row.maxAttempts).toBe(3);
    expect(row.transaction).toEqual({ amount: '150000', currency: 'JPY', payee: 'ACME Ltd' });
    expect(t.outbox.messages[0].payload.body).toContain('ACME Ltd');
    expect(t.hasher.matches(row, t.outbox.codeOf(row.id), null)).toBe(false);
    expect(t.hasher.matches(row, t.outbox.codeOf(row.id), row.transaction)).toBe(true);
  });

  it('start: a repeat with the same Idempotency-Key answers the first answer and queues nothing; another body is 409', async () => {
    const t = newIssuanceTestService();
    const first = await t.sut.start(principal(), start, 'key-1');
    const again = await t.sut.start(principal(), start, 'key-1');
    expect(again).toEqual(first);
    expect(t.outbox.messages).toHaveLength(1);
    await expect(t.sut.start(principal(), { ...start, purpose: 'transfer' }, 'key-1')).rejects.toMatchObject({ status: 409, code: 'idempotency_key_reused' });
    // a key claimed by a request still in flight (no answer stored yet) is 409 idempotency_key_in_use
    t.idempotency.keys.set('cli_A/key-2', { hash: t.idempotency.keys.get('cli_A/key-1')!.hash });
    await expect(t.sut.start(principal(), start, 'key-2')).rejects.toMatchObject({ status: 409, code: 'idempotency_key_in_use' });
    expect(t.outbox.messages).toHaveLength(1);
  });

  it('resend: waits for the cooldown, then replaces the code (the old one stops matching) and supersedes queued messages', async () => {
    const t = newIssuanceTestService();
    const { body } = await t.sut.start(principal(), start);
    const oldCode = t.outbox.codeOf(body.id);
    await expect(t.sut.resend(principal(), body.id, {})).rejects.toMatchObject({ status: 429, code: 'resend_too_soon' });

    t.clock.advance(30_000);
    const view = await t.sut.resend(principal(), body.id, {});
    const row = t.verifications.rows.get(body.id)!;
    const newCode = t.outbox.codeOf(body.id);
    expect(view).toMatchObject({ status: 'pending', sendsRemaining: 3, attemptsRemaining: 5 });
    expect(t.outbox.messages.map((m) => m.superseded)).toEqual([true, false]);
    expect(t.hasher.matches(row, newCode, null)).toBe(true);
    expect(t.hasher.matches(row, oldCode, null)).toBe(newCode === oldCode); // the old code works only if it happens to be the new one
    expect(t.audit.types().slice(-2)).toEqual(['verification.resent', 'message.queued']);
    // the cooldown doubles: 60 s after the second send
    t.clock.advance(59_000);
    await expect(t.sut.resend(principal(), body.id, {})).rejects.toMatchObject({ code: 'resend_too_soon' });
  });

  it('resend: a velocity refusal from risk answers 429 before a new code is queued; another client’s id is 404', async () => {
    const t = newIssuanceTestService();
    const { body } = await t.sut.start(principal(), start);
    t.clock.advance(30_000);
    t.risk.resendError = new ProblemException(429, 'rate_limited', 'too many');
    await expect(t.sut.resend(principal(), body.id, {})).rejects.toMatchObject({ status: 429, code: 'rate_limited' });
    expect(t.outbox.messages).toHaveLength(1);
    await expect(t.sut.get(principal({ clientId: 'cli_B' }), body.id)).rejects.toMatchObject({ status: 404 });
  });

  it('cancel: an open verification becomes canceled, then it is final (409)', async () => {
    const t = newIssuanceTestService();
    const { body } = await t.sut.start(principal(), start);
    expect(await t.sut.cancel(principal(), body.id)).toMatchObject({ status: 'canceled' });
    await expect(t.sut.cancel(principal(), body.id)).rejects.toMatchObject({ status: 409, code: 'verification_not_pending', extra: { verificationStatus: 'canceled' } });
    await expect(t.sut.resend(principal(), body.id, {})).rejects.toMatchObject({ status: 409 });
  });

  it('get: a pending verification past its expiry reads as expired', async () => {
    const t = newIssuanceTestService();
    const { body } = await t.sut.start(principal(), { ...start, ttlSeconds: 60 });
    t.clock.advance(60_000);
    expect(await t.sut.get(principal(), body.id)).toMatchObject({ status: 'expired' });
  });

  it("start: replaces the same client's open verification for the number (its queued message is not sent), not another client's", async () => {
    const t = newIssuanceTestService();
    const first = await t.sut.start(principal(), start);
    const other = await t.sut.start(principal({ clientId: 'cli_B' }), start);
    const second = await t.sut.start(principal(), start);
    expect(t.verifications.rows.get(first.body.id)!.status).toBe('canceled');
    expect(t.verifications.rows.get(other.body.id)!.status).toBe('pending');
    expect(t.verifications.rows.get(second.body.id)!.status).toBe('pending');
    expect(t.outbox.messages.map((m) => m.superseded)).toEqual([true, false, false]);
    expect(t.audit.events.filter((e) => e.type === 'verification.superseded')).toEqual([
      expect.objectContaining({ verificationId: first.body.id, data: { previousStatus: 'pending', supersededBy: second.body.id } }),
    ]);
  });
});
