import { Logger } from '@nestjs/common';
import { CircuitState } from 'cockatiel';
import { ProviderAccepted, ProviderError } from '../ports';
import { ProviderRouter, RouterSettings } from './provider-router';
import { SendRateLimiter } from './send-rate-limiter';

type Behaviour = 'ok' | 'fail500' | 'permanent' | 'hang' | 'throttled' | 'refused';

/** A provider whose next answers are scripted; records every call. */
class ScriptedProvider {
  calls = 0;
  behaviour: Behaviour = 'ok';
  constructor(readonly name: string) {}
  async send(): Promise<ProviderAccepted> {
    this.calls++;
    switch (this.behaviour) {
      case 'ok':
        return { provider: this.name, providerMessageId: `${this.name}-${this.calls}` };
      case 'fail500':
        throw new ProviderError(this.name, 'HTTP 500', true, 500);
      case 'permanent':
        throw new ProviderError(this.name, 'HTTP 400 (invalid number)', false, 400);
      case 'throttled':
        throw new ProviderError(this.name, 'HTTP 429', true, 429, { retryAfterMs: 60_000 });
      case 'refused':
        throw new ProviderError(this.name, 'connection failed', true);
      case 'hang':
        return new Promise(() => undefined);
    }
  }
}

beforeAll(() => jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined));
afterAll(() => jest.restoreAllMocks());

const settings: RouterSettings = { timeoutMs: 100, budgetMs: 1000, onTimeout: 'failover', circuit: { failures: 3, halfOpenAfterMs: 200 } };

function setup(over: Partial<RouterSettings> = {}, limiter?: SendRateLimiter, byCallingCode: Record<string, Array<'twilio' | 'vonage'>> = {}) {
  const twilio = new ScriptedProvider('twilio');
  const vonage = new ScriptedProvider('vonage');
  const router = new ProviderRouter('sms', new Map([['twilio', twilio], ['vonage', vonage]]), { providers: ['twilio', 'vonage'], byCallingCode }, { ...settings, ...over }, limiter);
  const send = () => router.send('+819012345678', (p) => p.send());
  return { twilio, vonage, router, send };
}

describe('ProviderRouter: failover over the route', () => {
  it('the first provider takes it: one leg, the second is not called', async () => {
    const { twilio, vonage, send } = setup();
    await expect(send()).resolves.toMatchObject({ provider: 'twilio', legs: [{ provider: 'twilio', outcome: 'accepted' }] });
    expect([twilio.calls, vonage.calls]).toEqual([1, 0]);
  });

  it.each<[Behaviour, string]>([
    ['fail500', 'retryable'],
    ['refused', 'retryable'],
    ['throttled', 'retryable'],
  ])('%s at the first → the second takes it, the first recorded as %s', async (behaviour, outcome) => {
    const { twilio, vonage, send } = setup();
    twilio.behaviour = behaviour;
    const accepted = await send();
    expect(accepted).toMatchObject({ provider: 'vonage', legs: [{ provider: 'twilio', outcome }, { provider: 'vonage', outcome: 'accepted' }] });
    expect(vonage.calls).toBe(1);
  });

  it('a hanging provider times out after PROVIDER_TIMEOUT_MS: unknown, then the next provider (failover)', async () => {
    const { twilio, send } = setup();
    twilio.behaviour = 'hang';
    const started = Date.now();
    const accepted = await send();
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
    expect(Date.now() - started).toBeLessThan(600);
    expect(accepted.legs).toEqual([
      { provider: 'twilio', outcome: 'unknown', statusCode: null, error: 'timed out after 100 ms', durationMs: expect.any(Number) },
      expect.objectContaining({ provider: 'vonage', outcome: 'accepted' }),
    ]);
  });

  it('PROVIDER_ON_TIMEOUT=wait: a timeout ends the send as unknown, nothing else is sent', async () => {
    const { twilio, vonage, send } = setup({ onTimeout: 'wait' });
    twilio.behaviour = 'hang';
    await expect(send()).resolves.toEqual({ provider: 'twilio', providerMessageId: null, unknown: true, legs: [expect.objectContaining({ outcome: 'unknown' })] });
    expect(vonage.calls).toBe(0);
  });

  it('a permanent error stops at once: not retryable, the next provider never called', async () => {
    const { twilio, vonage, send } = setup();
    twilio.behaviour = 'permanent';
    const err = await send().catch((e) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ retryable: false, statusCode: 400, legs: [expect.objectContaining({ provider: 'twilio', outcome: 'permanent' })] });
    expect(vonage.calls).toBe(0);
  });

  it('every provider failing is one retryable error naming each', async () => {
    const { twilio, vonage, send } = setup();
    twilio.behaviour = 'fail500';
    vonage.behaviour = 'refused';
    await expect(send()).rejects.toMatchObject({ retryable: true, message: 'twilio: HTTP 500; vonage: connection failed' });
  });

  it('the total budget bounds the send: with both hanging, it gives up once the budget is spent', async () => {
    const { twilio, vonage, send } = setup({ timeoutMs: 600, budgetMs: 900 });
    twilio.behaviour = 'hang';
    vonage.behaviour = 'hang';
    const started = Date.now();
    const err = await send().catch((e) => e);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(err).toMatchObject({ retryable: true });
    expect(err.legs.map((l: { outcome: string }) => l.outcome)).toEqual(['unknown', 'unknown']);
    // what was left of the budget (300 ms, less however late the first leg's 600 ms timer fired on a busy machine), never the 600 ms per call
    const left = Number(/^timed out after (\d+) ms$/.exec(err.legs[1].error)?.[1]);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(300);
  });

  it('a 429 with Retry-After keeps that provider aside until it has passed', async () => {
    const { twilio, send } = setup();
    twilio.behaviour = 'throttled';
    await send();
    twilio.behaviour = 'ok';
    const accepted = await send();
    expect(accepted).toMatchObject({ provider: 'vonage', legs: [{ provider: 'twilio', outcome: 'rate_limited' }, { provider: 'vonage', outcome: 'accepted' }] });
    expect(twilio.calls).toBe(1);
  });
});

describe('ProviderRouter: a Retry-After and the wall clock', () => {
  it('a provider set aside for a Retry-After of a minute is called again a minute on, even if the wall clock stepped back meanwhile', async () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 11, 7, 9, 0, 0) });
    try {
      const { twilio, send } = setup();
      twilio.behaviour = 'throttled';
      await send();
      twilio.behaviour = 'ok';
      jest.setSystemTime(Date.now() - 3_600_000); // an NTP step, a VM resumed: back an hour
      jest.advanceTimersByTime(60_001);
      expect(await send()).toMatchObject({ provider: 'twilio', legs: [{ provider: 'twilio', outcome: 'accepted' }] });
      expect(twilio.calls).toBe(2);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('ProviderRouter: circuit breaker (cockatiel)', () => {
  it('opens after N consecutive failures (sends go straight to the next), half-opens after the wait, closes after a good probe', async () => {
    const { twilio, vonage, router, send } = setup();
    twilio.behaviour = 'fail500';
    for (let i = 0; i < 3; i++) await send();
    expect(router.circuitState('twilio')).toBe(CircuitState.Open);
    const skipped = await send();
    expect(skipped.legs?.[0]).toMatchObject({ provider: 'twilio', outcome: 'circuit_open' });
    expect(twilio.calls).toBe(3); // not called while open
    expect(vonage.calls).toBe(4);

    twilio.behaviour = 'ok';
    await new Promise((r) => setTimeout(r, 220));
    const probe = await send();
    expect(probe).toMatchObject({ provider: 'twilio', legs: [{ outcome: 'accepted' }] });
    expect(router.circuitState('twilio')).toBe(CircuitState.Closed);
  });

  it('a failed probe opens it again; permanent errors never open it', async () => {
    const { twilio, router, send } = setup();
    twilio.behaviour = 'permanent';
    for (let i = 0; i < 5; i++) await send().catch(() => undefined);
    expect(router.circuitState('twilio')).toBe(CircuitState.Closed);
    twilio.behaviour = 'hang';
    for (let i = 0; i < 3; i++) await send();
    expect(router.circuitState('twilio')).toBe(CircuitState.Open);
    await new Promise((r) => setTimeout(r, 220));
    await send();
    expect(router.circuitState('twilio')).toBe(CircuitState.Open);
  });
});

describe('ProviderRouter: routes and rates', () => {
  it('a country calling code has its own order (longest code first)', () => {
    const { router } = setup({}, undefined, { '81': ['vonage', 'twilio'], '1': ['vonage'] });
    expect(router.routeFor('+819012345678').map((p) => p.name)).toEqual(['vonage', 'twilio']);
    expect(router.routeFor('+12025550123').map((p) => p.name)).toEqual(['vonage']);
    expect(router.routeFor('+447700900123').map((p) => p.name)).toEqual(['twilio', 'vonage']);
  });

  it('a provider at its send rate for the whole budget is passed over without a call', async () => {
    const limiter: SendRateLimiter = { acquire: async (provider) => provider !== 'twilio' };
    const { twilio, send } = setup({}, limiter);
    await expect(send()).resolves.toMatchObject({ provider: 'vonage', legs: [{ provider: 'twilio', outcome: 'rate_limited' }, { outcome: 'accepted' }] });
    expect(twilio.calls).toBe(0);
  });
});

describe('ProviderRouter: an open circuit with nothing left to fail over to', () => {
  it('a route of one provider still calls it with its circuit open (skipping it would only delay the message)', async () => {
    const only = new ScriptedProvider('http');
    const router = new ProviderRouter('sms', new Map([['http', only]]), { providers: ['http'], byCallingCode: {} }, settings);
    only.behaviour = 'fail500';
    for (let i = 0; i < 3; i++) await router.send('+819012345678', (p) => p.send()).catch(() => undefined);
    expect(router.circuitState('http')).toBe(CircuitState.Open);
    only.behaviour = 'ok';
    await expect(router.send('+819012345678', (p) => p.send())).resolves.toMatchObject({ provider: 'http', legs: [{ outcome: 'accepted' }] });
    expect(only.calls).toBe(4);
  });

  it('both circuits open: the first is skipped, the last is called', async () => {
    const { twilio, vonage, router, send } = setup();
    twilio.behaviour = 'fail500';
    vonage.behaviour = 'fail500';
    for (let i = 0; i < 3; i++) await send().catch(() => undefined);
    expect([router.circuitState('twilio'), router.circuitState('vonage')]).toEqual([CircuitState.Open, CircuitState.Open]);
    vonage.behaviour = 'ok';
    const accepted = await send();
    expect(accepted.legs!.map((l) => [l.provider, l.outcome])).toEqual([
      ['twilio', 'circuit_open'],
      ['vonage', 'accepted'],
    ]);
    expect(twilio.calls).toBe(3);
  });
});
