import { CallPlaced, CheckCall, OutgoingCall, OutgoingSms, ProviderAccepted, SmsGateway, VoiceGateway } from '../ports';
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
 * The VoiceGateway: code calls go over the route with failover; an IVR check call goes to the first provider
 * of the route only (its callbacks and its record name that provider, and a refused call is the caller's
 * judgement to make, as CallNotPlaced says).
 */
export class RoutedVoiceGateway implements VoiceGateway {
  readonly name = 'router';

  constructor(readonly router: ProviderRouter<VoiceGateway>) {}

  call(call: OutgoingCall): Promise<ProviderAccepted> {
    return this.router.send(call.to, (provider) => provider.call(call));
  }

  placeCheckCall(call: CheckCall): Promise<CallPlaced> {
    const [first] = this.router.routeFor(call.to);
    return first.placeCheckCall(call);
  }
}
