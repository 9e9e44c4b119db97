import { Logger } from '@nestjs/common';
import { CallNotPlaced, CallPlaced, CheckCall, ProviderError } from '../ports';
import { ProviderRouter, RouterSettings } from './provider-router';
import { RoutedVoiceGateway } from './routed-gateways';
import { SendRateLimiter } from './send-rate-limiter';

/** A voice provider whose check calls are scripted. */
class CheckCaller {
  calls = 0;
  constructor(
    readonly name: string,
    private readonly answer: () => Promise<CallPlaced>,
  ) {}
  placeCheckCall(): Promise<CallPlaced> {
    this.calls++;
    return this.answer();
  }
  call(): never {
    throw new Error('not used');
  }
}

beforeAll(() => jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined));
afterAll(() => jest.restoreAllMocks());

const settings: RouterSettings = { timeoutMs: 100, budgetMs: 300, onTimeout: 'failover', circuit: { failures: 3, halfOpenAfterMs: 200 } };
const check: CheckCall = { to: '+819012345678', locale: 'ja', prompt: '1を押してください。', reference: 'vck_1' };

function gateway(first: CheckCaller, second: CheckCaller, limiter?: SendRateLimiter) {
  const providers = new Map([[first.name, first], [second.name, second]]);
  return new RoutedVoiceGateway(new ProviderRouter('voice', providers as never, { providers: ['twilio', 'vonage'], byCallingCode: {} }, settings, limiter));
}

describe('RoutedVoiceGateway: IVR check calls go over the route too', () => {
  it('a provider that cannot route the call passes it to the next', async () => {
    const a = new CheckCaller('twilio', async () => Promise.reject(new CallNotPlaced('twilio', 'HTTP 503', 'route_error', true, 503)));
    const b = new CheckCaller('vonage', async () => ({ provider: 'vonage', callId: 'CA1' }));
    await expect(gateway(a, b).placeCheckCall(check)).resolves.toEqual({ provider: 'vonage', callId: 'CA1' });
    expect([a.calls, b.calls]).toEqual([1, 1]);
  });

  it('a provider saying the number cannot exist stops the route, its refusal kept as it said it', async () => {
    const a = new CheckCaller('twilio', async () => Promise.reject(new CallNotPlaced('twilio', 'Twilio error 21217', 'unallocated', false, 400, 21217)));
    const b = new CheckCaller('vonage', async () => ({ provider: 'vonage', callId: 'CA1' }));
    await expect(gateway(a, b).placeCheckCall(check)).rejects.toMatchObject({ outcome: 'unallocated', retryable: false, providerCode: 21217 });
    expect(b.calls).toBe(0);
  });

  it('providers at their shared call rate are not called: the call is not placed (route_error, retried later)', async () => {
    const a = new CheckCaller('twilio', async () => ({ provider: 'twilio', callId: 'CA1' }));
    const b = new CheckCaller('vonage', async () => ({ provider: 'vonage', callId: 'CA2' }));
    const full: SendRateLimiter = { acquire: async () => false };
    const err = await gateway(a, b, full).placeCheckCall(check).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CallNotPlaced);
    expect(err).toMatchObject({ outcome: 'route_error', retryable: true });
    expect([a.calls, b.calls]).toEqual([0, 0]);
    expect(err).toBeInstanceOf(ProviderError);
  });
});
