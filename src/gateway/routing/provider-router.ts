import { Logger } from '@nestjs/common';
import { BrokenCircuitError, circuitBreaker, CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, handleWhen, TaskCancelledError } from 'cockatiel';
import type { RouteTable, RoutingConfig } from '../../config/app-config';
import { GatewayMetrics } from '../gateway.metrics';
import { CallNotPlaced, LegOutcome, ProviderAccepted, ProviderError, ProviderLeg } from '../ports';
import { SendRateLimiter, UNLIMITED } from './send-rate-limiter';

export type Channel = 'sms' | 'voice';

export interface RouterSettings extends Pick<RoutingConfig, 'budgetMs' | 'onTimeout' | 'circuit'> {
  /** One provider call. */
  timeoutMs: number;
}

const CIRCUIT_GAUGE: Record<CircuitState, number> = { [CircuitState.Closed]: 0, [CircuitState.Open]: 1, [CircuitState.HalfOpen]: 2, [CircuitState.Isolated]: 1 };

/**
 * Sends one message over the ordered providers of its route (the channel's list, or the list of the number's
 * country calling code). Each provider sits behind a cockatiel circuit breaker (PROVIDER_CIRCUIT_FAILURES
 * consecutive retryable failures open it; after PROVIDER_CIRCUIT_HALF_OPEN_MS one probe may pass, and its
 * success closes it) and each call behind a timeout (the smaller of PROVIDER_TIMEOUT_MS and what is left of the
 * send's budget, PROVIDER_SEND_BUDGET_MS; see `withTimeout`). Then:
 * - accepted: done;
 * - permanent (an invalid or unreachable number, any 4xx but 408/429): nothing else is tried, it will not change;
 * - retryable (5xx, 429, connection error): the next provider; a 429's Retry-After keeps that provider aside
 *   (in this instance) until it has passed;
 * - a timeout: nobody knows whether the provider took the message. `failover` tries the next one anyway (risk:
 *   two messages with the same code), `wait` stops there and sends nothing more (risk: a late code).
 * An open circuit or a provider at its send rate (shared across instances) is passed over without a call, except
 * that the last provider of the route is called anyway when no other one was (nothing is left to fail over to).
 * Every provider tried is returned as a leg, for the outbox's record. The breakers are per instance.
 */
export class ProviderRouter<G extends { readonly name: string }> {
  private readonly logger = new Logger('ProviderRouter');
  private readonly breakers = new Map<string, CircuitBreakerPolicy>();
  /** Providers that answered 429: not called again (here) before this time. */
  private readonly coolingUntil = new Map<string, number>();

  constructor(
    readonly channel: Channel,
    private readonly providers: ReadonlyMap<string, G>,
    private readonly routes: RouteTable,
    private readonly settings: RouterSettings,
    private readonly limiter: SendRateLimiter = UNLIMITED,
    private readonly metrics: GatewayMetrics | null = null,
  ) {
    for (const name of providers.keys()) {
      const breaker = circuitBreaker(
        // Only what says something about the provider's health counts: a permanent answer is about the message.
        handleWhen((err) => !(err instanceof ProviderError) || err.retryable),
        { halfOpenAfter: settings.circuit.halfOpenAfterMs, breaker: new ConsecutiveBreaker(settings.circuit.failures) },
      );
      breaker.onStateChange((state) => {
        this.metrics?.circuitState.set({ provider: name, channel }, CIRCUIT_GAUGE[state]);
        this.logger.warn({ provider: name, channel, state: CircuitState[state] }, `circuit of ${name} (${channel}) is now ${CircuitState[state].toLowerCase()}`);
      });
      this.metrics?.circuitState.set({ provider: name, channel }, 0);
      this.breakers.set(name, breaker);
    }
  }

  /** The providers a message to `to` (E.164) tries, in order: the longest matching calling code's route, else the channel's. */
  routeFor(to: string): G[] {
    const digits = to.replace(/^\+/, '');
    let names = this.routes.providers;
    for (const length of [3, 2, 1]) {
      const route = this.routes.byCallingCode[digits.slice(0, length)];
      if (route) {
        names = route;
        break;
      }
    }
    return names.map((name) => this.providers.get(name)).filter((g): g is G => g !== undefined);
  }

  /** The state of a provider's circuit in this instance. */
  circuitState(provider: string): CircuitState | undefined {
    return this.breakers.get(provider)?.state;
  }

  /**
   * Times (the budget, each leg, a Retry-After's end) are on the monotonic clock: a wall clock stepped back an hour
   * would otherwise keep a provider aside, or a send going, an hour longer.
   */
  async send(to: string, call: (provider: G) => Promise<ProviderAccepted>): Promise<ProviderAccepted> {
    const deadline = performance.now() + this.settings.budgetMs;
    const legs: ProviderLeg[] = [];
    let last: ProviderError | undefined;
    const route = this.routeFor(to);
    for (const [index, provider] of route.entries()) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      const started = performance.now();
      const leg = (outcome: LegOutcome, err?: ProviderError) => {
        const durationMs = Math.round(performance.now() - started);
        legs.push({ provider: provider.name, outcome, statusCode: err?.statusCode ?? null, error: err ? err.message.slice(0, 300) : null, durationMs });
        this.metrics?.outcomes.inc({ provider: provider.name, channel: this.channel, outcome });
        if (outcome !== 'circuit_open' && outcome !== 'rate_limited') {
          this.metrics?.attempts.inc({ provider: provider.name, channel: this.channel });
          this.metrics?.sendDuration.observe({ provider: provider.name, channel: this.channel, outcome }, durationMs / 1000);
        }
      };
      if ((this.coolingUntil.get(provider.name) ?? 0) > performance.now()) {
        leg('rate_limited', new ProviderError(provider.name, 'waiting out its Retry-After'));
        continue;
      }
      if (!(await this.limiter.acquire(provider.name, this.channel, deadline))) {
        leg('rate_limited', new ProviderError(provider.name, 'at its send rate for the whole budget'));
        continue;
      }
      const callTimeoutMs = Math.max(1, Math.min(this.settings.timeoutMs, Math.floor(deadline - performance.now())));
      const attempt = () => withTimeout(() => call(provider), callTimeoutMs);
      try {
        let accepted: ProviderAccepted;
        try {
          accepted = await (this.breakers.get(provider.name) as CircuitBreakerPolicy).execute(attempt);
        } catch (err) {
          // The last provider of a route that no call has reached yet is called even with its circuit open:
          // with nothing left to fail over to, skipping it would only delay the message (a route of one provider
          // never skips its provider). Its outcome does not move its circuit; the next probe does.
          const nothingCalled = legs.every((l) => l.outcome === 'circuit_open' || l.outcome === 'rate_limited');
          if (!(err instanceof BrokenCircuitError) || index < route.length - 1 || !nothingCalled) throw err;
          accepted = await attempt();
        }
        leg('accepted');
        return Object.assign({}, accepted, { legs });
      } catch (raw) {
        if (raw instanceof BrokenCircuitError) {
          leg('circuit_open', new ProviderError(provider.name, 'circuit open'));
          continue;
        }
        const err = asProviderError(provider.name, raw, callTimeoutMs);
        if (!err.retryable) {
          leg('permanent', err);
          // A check call refused for what it says about the number keeps that meaning (and its own class).
          if (err instanceof CallNotPlaced) throw err;
          throw new ProviderError(err.provider, err.message, false, err.statusCode, { legs });
        }
        if (err.unknown) {
          leg('unknown', err);
          if (this.settings.onTimeout === 'wait') return { provider: provider.name, providerMessageId: null, unknown: true, legs };
        } else {
          leg('retryable', err);
        }
        if (err.retryAfterMs) this.coolingUntil.set(provider.name, performance.now() + err.retryAfterMs);
        last = err;
      }
    }
    // A check call the last provider could not place: its refusal, as it said it (the caller judges it).
    if (last instanceof CallNotPlaced) throw last;
    throw new ProviderError(last?.provider ?? 'router', summary(legs), true, last?.statusCode, { legs, retryAfterMs: this.retryAfter(to) });
  }

  /** When every provider of the route waits out a Retry-After, the soonest it ends (for the outbox's next try). */
  private retryAfter(to: string): number | undefined {
    const waits = this.routeFor(to).map((p) => (this.coolingUntil.get(p.name) ?? 0) - performance.now());
    return waits.length > 0 && waits.every((w) => w > 0) ? Math.ceil(Math.min(...waits)) : undefined;
  }
}

/**
 * `work()`'s answer, or cockatiel's TaskCancelledError once `ms` have passed (the call goes on: it takes no signal,
 * and its answer is then dropped). Not cockatiel's `timeout()`: every call of it makes an AbortController, and on
 * Node 20 an AbortSignal outlives young-generation collections, so each send's signal, and the closures and promises
 * its listeners held, went to the old generation (with it gone, the service alone at 174 starts/s grew its old
 * generation by 2.2 MB per 5 s instead of 3.0: docs/performance-log.md).
 */
async function withTimeout<T>(work: () => Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TaskCancelledError(`Operation timed out after ${ms}ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A provider call's failure as a ProviderError: a timeout may have been accepted (unknown), anything unexpected is retryable. */
function asProviderError(provider: string, err: unknown, timeoutMs: number): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof TaskCancelledError) return new ProviderError(provider, `timed out after ${timeoutMs} ms`, true, undefined, { unknown: true });
  return new ProviderError(provider, `unexpected error: ${err instanceof Error ? err.name : typeof err}`, true);
}

function summary(legs: ProviderLeg[]): string {
  if (legs.length === 0) return 'no provider within the time budget';
  return legs.map((l) => `${l.provider}: ${l.outcome === 'circuit_open' ? 'circuit open' : (l.error ?? l.outcome)}`).join('; ');
}
