import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { ThrottlerLimitDetail, ThrottlerRequest } from '@nestjs/throttler/dist/throttler.guard.interface';
import type { AuthedRequest } from '../common/auth';
import { limitUnit, limitUnitWording } from '../common/ip-unit';
import { ProblemException } from '../common/problem';

/** The window of a client's own limit (its policy's `requestsPerMinute`). */
const MINUTE_MS = 60_000;

/**
 * Global rate limit per API client (all its keys, all routes, all instances share one budget);
 * by IP for requests without a key (an IPv6 address by its /64). Runs after the AuthGuard, which sets the principal.
 * The budget is THROTTLE_LIMIT per THROTTLE_TTL_SECONDS, or the client's own `requestsPerMinute` (set by an
 * admin in its policy, carried on the principal) per minute.
 */
@Injectable()
export class ClientThrottlerGuard extends ThrottlerGuard {
  protected async handleRequest(props: ThrottlerRequest): Promise<boolean> {
    const own = (this.getRequestResponse(props.context).req as AuthedRequest).principal?.requestsPerMinute;
    return super.handleRequest(own ? Object.assign({}, props, { limit: own, ttl: MINUTE_MS, blockDuration: MINUTE_MS }) : props);
  }

  protected async getTracker(req: Record<string, unknown>): Promise<string> {
    const request = req as unknown as AuthedRequest;
    return request.principal ? `client:${request.principal.clientId}` : `ip:${limitUnit(request.ip)}`;
  }

  protected generateKey(_context: ExecutionContext, tracker: string, throttlerName: string): string {
    return `${throttlerName}:${tracker}`;
  }

  protected async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const who = detail.tracker.startsWith('client:') ? 'this API client' : limitUnitWording(detail.tracker.slice('ip:'.length));
    throw new ProblemException(
      429,
      'rate_limited',
      `Request limit for ${who} reached: ${detail.limit} requests per ${Math.round(detail.ttl / 1000)} s. Retry after ${detail.timeToBlockExpire} s.`,
      { limit: 'client_requests', headers: { 'Retry-After': String(detail.timeToBlockExpire) } },
    );
  }
}
