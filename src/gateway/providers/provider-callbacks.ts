import { applyDecorators } from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';
import { Public } from '../../common/auth';

/**
 * A controller of a provider's callbacks: no API key (each request is verified with the provider's own signature
 * instead), and no limit by address: callbacks come from a few of the provider's addresses (or a load balancer's), as
 * many as the messages and calls sent, and a 429 would lose a receipt or a key press the provider may not send again.
 */
export const ProviderCallbacks = (): ClassDecorator => applyDecorators(Public(), SkipThrottle());
