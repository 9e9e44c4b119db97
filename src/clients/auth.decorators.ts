import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Scope } from './scopes';

export const PUBLIC_ROUTE = 'auth:public';
export const REQUIRED_SCOPES = 'auth:scopes';

/** No API key needed (health, metrics, docs, provider callbacks). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/** The key must carry at least one of these scopes. */
export const RequireScopes = (...scopes: Scope[]) => SetMetadata(REQUIRED_SCOPES, scopes);

/** The authenticated caller, attached to the request by the AuthGuard. */
export interface Principal {
  clientId: string;
  clientName: string;
  keyId: string;
  scopes: string[];
  /** Wrong codes allowed per verification for this client (null: OTP_MAX_ATTEMPTS). */
  maxCheckAttempts: number | null;
  /** The client's default webhook URL (null: none). */
  webhookUrl: string | null;
}

export type AuthedRequest = FastifyRequest & { principal?: Principal };

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<AuthedRequest>().principal;
  if (!principal) throw new Error('CurrentPrincipal used on a public route');
  return principal;
});
