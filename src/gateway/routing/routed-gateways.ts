import { CallNotPlaced, CallPlaced, CheckCall, OutgoingCall, OutgoingSms, ProviderAccepted, ProviderError, SmsGateway, VoiceGateway } from '../ports';
import { ProviderRouter } from './provider-router';

/** The SmsGateway the outbox sends through: the route's providers, with failover (ProviderRouter). */
export class RoutedSmsGateway implements SmsGateway {
  readonly name = 'router';

  constructor(readonly router: ProviderRouter<SmsGateway>) {}

  send(sms: OutgoingSms): Promise<ProviderAccepted> {
    return this.router.send(sms.to, (provider) => provider.send(sms));
  }
}

/**
 * The VoiceGateway: code calls and IVR check calls both go over the route, with its failover, circuits and the
 * providers' shared call rates (voice providers allow 1–3 calls a second). A provider that says the number cannot
 * exist stops the route (CallNotPlaced `unallocated`, the caller's judgement to make); one that cannot route the
 * call passes it to the next. A check call whose fate a timeout left unknown (PROVIDER_ON_TIMEOUT=wait) is reported
 * as not placed (`route_error`): if it was placed after all, its own callbacks still record what it found.
 */
export class RoutedVoiceGateway implements VoiceGateway {
  readonly name = 'router';

  constructor(readonly router: ProviderRouter<VoiceGateway>) {}

  call(call: OutgoingCall): Promise<ProviderAccepted> {
    return this.router.send(call.to, (provider) => provider.call(call));
  }

  async placeCheckCall(call: CheckCall): Promise<CallPlaced> {
    const accepted = await this.router
      .send(call.to, async (provider) => {
        const placed = await provider.placeCheckCall(call);
        return { provider: placed.provider, providerMessageId: placed.callId };
      })
      .catch((err: unknown) => {
        // No provider within the budget (circuits open, rates, timeouts): not placed, try again later.
        if (err instanceof ProviderError && !(err instanceof CallNotPlaced)) {
          throw new CallNotPlaced(err.provider, err.message, 'route_error', err.retryable, err.statusCode, undefined, { unknown: err.unknown, retryAfterMs: err.retryAfterMs, legs: err.legs });
        }
        throw err;
      });
    if (!accepted.providerMessageId) throw new CallNotPlaced(accepted.provider, 'the provider did not say whether it placed the call', 'route_error', false);
    return { provider: accepted.provider, callId: accepted.providerMessageId };
  }
}
