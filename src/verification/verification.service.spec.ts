import { ProblemException } from '../common/problem';
import { principal } from '../../test/support/fakes';
import { newVerificationTestService } from '../../test/support/fakes-verification';

const start = { phoneNumber: '+819012345678', purpose: 'login' };

async function started(env: Record<string, string> = {}, who = principal()) {
  const t = newVerificationTestService(env);
  const { body } = await t.issuance.start(who, start);
  return { t, id: body.id, code: t.outbox.codeOf(body.id) };
}

const wrong = (code: string) => String((Number(code[0]) + 1) % 10) + code.slice(1);

describe('VerificationService (in-memory repositories)', () => {
  it('a right code approves once, publishes verification.approved and queues the webhook to the client URL', async () => {
    const who = principal({ webhookUrl: 'https://bank.example/hooks' });
    const { t, id, code } = await started({}, who);
    t.targets.targets.set('cli_A', { url: 'https://bank.example/hooks', secrets: ['whsec_x'], disabledAt: null });
    const approved: unknown[] = [];
    t.events.subscribe('verification.approved', 'spec', (_tx, e) => void approved.push(e));

    expect(await t.sut.check(who, id, { code })).toEqual({ id, status: 'approved', valid: true, attemptsRemaining: 5 });
    expect(approved).toHaveLength(1);
    expect(t.outbox.webhooks).toHaveLength(1);
    expect(t.outbox.webhooks[0].body).toMatchObject({ type: 'verification.approved', data: { id, status: 'approved' } });
    expect(t.outbox.webhooks[0].payload).toMatchObject({ url: 'https://bank.example/hooks' });
    expect(t.outbox.webhooks[0].payload).not.toHaveProperty('secret'); // the sender reads the secrets at each try
    expect(t.outbox.dispatched.map((r) => r.kind)).toEqual(['sms', 'webhook']);
    await expect(t.sut.check(who, id, { code })).rejects.toMatchObject({ status: 409, code: 'verification_not_pending', extra: { verificationStatus: 'approved' } });
  });

  it('no webhook is queued when neither the verification nor the client has a URL', async () => {
    const { t, id, code } = await started();
    await t.sut.check(principal(), id, { code });
    expect(t.outbox.webhooks).toHaveLength(0);
  });

  it('wrong codes count down, each publishes verification.check_failed (risk counts them), and the last locks', async () => {
    const { t, id, code } = await started({ OTP_MAX_ATTEMPTS: '3' });
    const failures: unknown[] = [];
    const locks: unknown[] = [];
    t.events.subscribe('verification.check_failed', 'spec', (_tx, e) => void failures.push(e));
    t.events.subscribe('verification.locked', 'spec', (_tx, e) => void locks.push(e));

    expect(await t.sut.check(principal(), id, { code: wrong(code) })).toMatchObject({ status: 'pending', valid: false, attemptsRemaining: 2 });
    expect(await t.sut.check(principal(), id, { code: wrong(code) })).toMatchObject({ status: 'pending', attemptsRemaining: 1 });
    expect(await t.sut.check(principal(), id, { code: wrong(code) })).toMatchObject({ status: 'locked', attemptsRemaining: 0 });
    expect(failures).toHaveLength(3);
    expect(failures[0]).toMatchObject({ verificationId: id, phoneE164: '+819012345678' });
    expect(locks).toHaveLength(1);
    expect(t.audit.types().filter((x) => x.startsWith('verification.'))).toEqual([
      'verification.created', 'verification.check_failed', 'verification.check_failed', 'verification.check_failed', 'verification.locked',
    ]);
    // the right code no longer helps
    await expect(t.sut.check(principal(), id, { code })).rejects.toMatchObject({ status: 409, extra: { verificationStatus: 'locked' } });
  });

  it('a code of the wrong length is 400 and costs no attempt; a bound transaction must be presented again', async () => {
    const t = newVerificationTestService();
    const transaction = { amount: '150000', currency: 'JPY', payee: 'ACME Ltd' };
    const { body } = await t.issuance.start(principal(), { ...start, transaction });
    const code = t.outbox.codeOf(body.id);
    await expect(t.sut.check(principal(), body.id, { code: code + '1' })).rejects.toMatchObject({ status: 400, code: 'validation_failed' });
    expect(await t.sut.check(principal(), body.id, { code })).toMatchObject({ valid: false, attemptsRemaining: 4 });
    expect(await t.sut.check(principal(), body.id, { code, transaction: { ...transaction, amount: '150001' } })).toMatchObject({ valid: false, attemptsRemaining: 3 });
    expect(await t.sut.check(principal(), body.id, { code, transaction: { ...transaction, currency: 'jpy' } })).toMatchObject({ valid: true, status: 'approved' });
  });

  it('a check after the expiry is 409 expired, and the verification is marked expired with its audit event', async () => {
    const { t, id, code } = await started();
    t.clock.advance(300_000);
    await expect(t.sut.check(principal(), id, { code })).rejects.toMatchObject({ status: 409, extra: { verificationStatus: 'expired' } });
    expect(t.verifications.rows.get(id)!.status).toBe('expired');
    expect(t.audit.types()).toContain('verification.expired');
  });

  it('message.failed ends a pending verification as failed, unless a resend queued a newer message', async () => {
    const { t, id } = await started();
    const first = t.outbox.messages[0].row.id;
    t.clock.advance(30_000);
    await t.issuance.resend(principal(), id, {});
    await t.transactions.run((tx) => t.events.publish(tx, 'message.failed', { outboxId: first, verificationId: id, clientId: 'cli_A', channel: 'sms', at: t.clock.now() }));
    expect(t.verifications.rows.get(id)!.status).toBe('pending');

    const latest = t.outbox.messages[1].row.id;
    await t.transactions.run((tx) => t.events.publish(tx, 'message.failed', { outboxId: latest, verificationId: id, clientId: 'cli_A', channel: 'sms', at: t.clock.now() }));
    expect(t.verifications.rows.get(id)!.status).toBe('failed');
    expect(t.audit.types()).toContain('verification.failed');
  });

  it('a check refused by the per-number guess cap (risk) answers its 429 and counts nothing', async () => {
    const { t, id, code } = await started();
    t.risk.checkError = new ProblemException(429, 'rate_limited', 'Too many wrong codes for this number.', { limit: 'phone_check_failures' });
    await expect(t.sut.check(principal(), id, { code: wrong(code) })).rejects.toMatchObject({ status: 429, extra: { limit: 'phone_check_failures' } });
    await expect(t.sut.check(principal(), id, { code })).rejects.toMatchObject({ status: 429 });
    expect(t.verifications.rows.get(id)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(t.audit.types()).not.toContain('verification.check_failed');
  });
});
