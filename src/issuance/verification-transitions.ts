import type { VerificationStatus } from './dto/verification.view';

/** Only these can change; every other status is final (API.md). */
export const OPEN_STATUSES: readonly VerificationStatus[] = ['screening', 'pending'];

/**
 * Every change of a verification's status, declared once. The repository's guarded UPDATEs take their
 * `status IN (…)` guard from here (`fromGuard`), and test/verification-transitions.e2e-spec.ts runs each
 * repository method against a row in every status to show that the SQL moves exactly these.
 */
export const TRANSITIONS = {
  /** A right code. */
  approve: { from: ['pending'], to: ['approved'] },
  /** A wrong code: counted; the last allowed one locks. */
  wrongCode: { from: ['pending'], to: ['pending', 'locked'] },
  /** A fresh code replaces the old one. */
  resend: { from: ['pending'], to: ['pending'] },
  cancel: { from: ['screening', 'pending'], to: ['canceled'] },
  /** A new start for the same number by the same client replaces it (one open verification per number and client). */
  supersede: { from: ['screening', 'pending'], to: ['canceled'] },
  expire: { from: ['screening', 'pending'], to: ['expired'] },
  /** No provider could deliver the code. */
  fail: { from: ['pending'], to: ['failed'] },
  /** Screening allowed it after all (a voice contract confirmed): its code is sent now. */
  release: { from: ['screening'], to: ['pending'] },
  /** Screening refused it after its start (no voice contract). */
  deny: { from: ['screening'], to: ['denied'] },
} as const satisfies Record<string, { from: readonly VerificationStatus[]; to: readonly VerificationStatus[] }>;

export type TransitionName = keyof typeof TRANSITIONS;

/** The SQL guard of these transitions: `status IN ('pending', …)` (the statuses are constants, never input). */
export function fromGuard(...names: TransitionName[]): string {
  const from = [...new Set(names.flatMap((n) => TRANSITIONS[n].from as readonly string[]))];
  return `status IN (${from.map((s) => `'${s}'`).join(', ')})`;
}

/**
 * The guard of a transition on one row found by id: the same test, written so that the planner cannot prove a
 * partial index's predicate (`status IN ('pending', 'screening')`) from it. Without it, a planner whose statistics
 * see almost no open verifications (millions of final ones) costs a whole scan of a partial index of open
 * verifications below the primary key's lookup, and every check scanned them all (3,231 rows per check among
 * 10 million, BENCH_SEED=10000000). `status` is never null, so IS TRUE changes no answer.
 */
export function rowGuard(...names: TransitionName[]): string {
  return `(${fromGuard(...names)}) IS TRUE`;
}

/** The status a caller sees: an open verification past its expiry reads as expired. */
export function effectiveStatus(row: { status: VerificationStatus; expiresAt: Date }, now: Date): VerificationStatus {
  return OPEN_STATUSES.includes(row.status) && row.expiresAt.getTime() <= now.getTime() ? 'expired' : row.status;
}
