import { Counter, Gauge, Histogram, Metric } from 'prom-client';

/**
 * The gateway's Prometheus metrics, per provider and channel. Registered in no registry here: the application
 * adds them to its own (app.factory.ts), as tests run several instances in one process.
 */
export class GatewayMetrics {
  readonly attempts = new Counter({
    name: 'otp_provider_attempts_total',
    help: 'Provider calls made for code messages (failover legs included), by provider and channel',
    labelNames: ['provider', 'channel'] as const,
    registers: [],
  });
  readonly outcomes = new Counter({
    name: 'otp_provider_outcomes_total',
    help: 'What became of each provider tried for a code message: accepted, retryable, permanent, unknown, circuit_open, rate_limited',
    labelNames: ['provider', 'channel', 'outcome'] as const,
    registers: [],
  });
  readonly sendDuration = new Histogram({
    name: 'otp_provider_send_duration_seconds',
    help: 'Duration of one provider call, by provider, channel and outcome',
    labelNames: ['provider', 'channel', 'outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10],
    registers: [],
  });
  readonly circuitState = new Gauge({
    name: 'otp_provider_circuit_state',
    help: "A provider's circuit in this instance: 0 closed, 1 open, 2 half-open",
    labelNames: ['provider', 'channel'] as const,
    registers: [],
  });
  readonly receipts = new Counter({
    name: 'otp_delivery_receipts_total',
    help: 'Verified delivery receipts by provider and the delivery status they report (duplicates and late ones included)',
    labelNames: ['provider', 'status'] as const,
    registers: [],
  });
  readonly acceptDelay = new Histogram({
    name: 'otp_message_accept_delay_seconds',
    help: 'From the start (or resend) request that queued a code message to a provider accepting it, by provider and channel',
    labelNames: ['provider', 'channel'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [],
  });

  get all(): Metric[] {
    return [this.attempts, this.outcomes, this.sendDuration, this.circuitState, this.receipts, this.acceptDelay];
  }
}
