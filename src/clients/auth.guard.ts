import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { limitUnit, limitUnitWording } from '../common/ip-unit';
import { ProblemException, Problems } from '../common/problem';
import { AuthedRequest, FailedAuthLimiter, PUBLIC_ROUTE, REQUIRED_SCOPES } from '../common/auth';
import { ClientsService } from './clients.service';

/**
 * Global guard: every route needs `Authorization: Bearer <api key>` unless marked @Public().
 * 401 for a missing, unknown or revoked key; 403 when the key lacks the route's scope.
 * The presented key is never echoed in an answer or a log line.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly clients: ClientsService,
    private readonly failures: FailedAuthLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;

    const request = context.switchToHttp().getRequest<AuthedRequest>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw await this.refuse(request, Problems.unauthorized());
    const principal = await this.clients.authenticate(match[1]);
    if (!principal) throw await this.refuse(request, Problems.unauthorized('The API key is unknown or revoked.'));
    request.principal = principal;

    const required = this.reflector.getAllAndOverride<string[] | undefined>(REQUIRED_SCOPES, targets);
    if (required?.length && !required.some((s) => principal.scopes.includes(s))) {
      throw Problems.forbidden(`This API key lacks the scope ${required.join(' or ')}.`);
    }
    return true;
  }

  /** 401, or 429 once this IP has failed authentication too often (a flood of bad keys is limited). */
  private async refuse(request: AuthedRequest, unauthorized: ProblemException): Promise<ProblemException> {
    const wait = await this.failures.hit(request.ip ?? 'unknown');
    if (!wait) return unauthorized;
    return new ProblemException(429, 'rate_limited', `Too many requests without a valid API key from ${limitUnitWording(limitUnit(request.ip))}. Retry after ${wait} s.`, {
      limit: 'auth_failures',
      headers: { 'Retry-After': String(wait) },
    });
  }
}
