/**
 * The fault modes every fake provider plays, each in its vendor's wire format:
 * - `ok`: accepted; the receipts follow (sent, then delivered), signed as the vendor signs them;
 * - `undelivered`: accepted, then a receipt saying the message could not be delivered;
 * - `error-500`: HTTP 500 with the vendor's error body;
 * - `throttle-429`: HTTP 429 with `Retry-After` (seconds: `retryAfter`, default 1);
 * - `hang`: never answers (past any timeout);
 * - `slow`: accepted after `delayMs` (default 300 ms);
 * - `malformed`: a 2xx whose body is not the vendor's JSON (truncated);
 * - `invalid-number`: the vendor's permanent "invalid number" error (a 4xx).
 * A connection refused is a fake that was closed (`close()`), or a base URL on a port nothing listens on.
 */
export type Fault = 'ok' | 'undelivered' | 'error-500' | 'throttle-429' | 'hang' | 'slow' | 'malformed' | 'invalid-number';

export interface FaultOptions {
  retryAfter?: number;
  delayMs?: number;
  /** Receipts: every one sent twice, identically. */
  duplicate?: boolean;
  /** Receipts: the last first. */
  outOfOrder?: boolean;
  /** Receipts signed with another secret. */
  badSignature?: boolean;
  /** No receipts at all. */
  noReceipts?: boolean;
}

/** Decides the fault of each request: by number (script), else `plan(index)` over all requests, else ok. */
export class FaultPlan {
  private readonly scripts = new Map<string, { fault: Fault; opts: FaultOptions }>();
  /** Over every request, in arrival order (0-based): e.g. `(i) => (i % 2 ? 'error-500' : 'ok')`. */
  plan: ((index: number, to: string) => Fault) | null = null;
  private count = 0;

  script(to: string, fault: Fault, opts: FaultOptions = {}): void {
    this.scripts.set(to, { fault, opts });
  }

  next(to: string): { fault: Fault; opts: FaultOptions } {
    const index = this.count++;
    const scripted = this.scripts.get(to);
    if (scripted) return scripted;
    return { fault: this.plan ? this.plan(index, to) : 'ok', opts: {} };
  }

  reset(): void {
    this.scripts.clear();
    this.plan = null;
  }
}
