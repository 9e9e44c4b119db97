import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import type { VoiceContractDefaults } from '../../config/app-config';
import { ApiProblem } from '../problem-docs';
import type { Scope } from './scopes';

/**
 * The auth contract every module builds on. The clients module provides the global guard that reads the
 * API key and fills `Principal`; nothing else imports `clients` for authentication.
 */
export const PUBLIC_ROUTE = 'auth:public';
export const REQUIRED_SCOPES = 'auth:scopes';

/** The authenticated caller, attached to the request by the clients module's guard. */
export interface Principal {
  clientId: string;
  clientName: string;
  keyId: string;
  scopes: string[];
  /** Wrong codes allowed per verification for this client (null: OTP_MAX_ATTEMPTS). */
  maxCheckAttempts: number | null;
  /** Requests a minute for all the client's keys and routes (null: THROTTLE_LIMIT per THROTTLE_TTL_SECONDS). */
  requestsPerMinute: number | null;
  /** ISO 3166-1 alpha-2 countries the client's starts may use (null: RISK_ALLOWED_COUNTRIES). */
  countries: string[] | null;
  /** Number types per channel (null, or a channel left out: RISK_SMS_NUMBER_TYPES / RISK_VOICE_NUMBER_TYPES). */
  numberTypes: NumberTypesPolicy | null;
  /** When starts need a voice-contract check (null, or a field left out: RISK_VOICE_CONTRACT_*). */
  voiceContract: VoiceContractPolicy | null;
  /** What a tripped SMS-pumping rule does to its starts: `enforce` or `record_only` (null: RISK_PUMPING_MODE). */
  pumping: 'enforce' | 'record_only' | null;
  /** The client's default webhook URL (null: none). */
  webhookUrl: string | null;
  /**
   * The client has test numbers and may use them here (outside production, or with its policy's
   * testNumbersInProduction): only then does a start look its number up among them. Absent: false.
   */
  testNumbers?: boolean;
}

/** A client's number types per channel (API.md, Admin: a client's policy). */
export interface NumberTypesPolicy {
  sms?: string[];
  voice?: string[];
}

/** Whether a start needs the number's voice contract: not at all, checked without waiting, or confirmed before the code is sent. */
export type VoiceContractMode = VoiceContractDefaults['default'];

/** A client's voice-contract policy (API.md, Admin: a client's policy) as stored; a field left out follows the service. */
export interface VoiceContractPolicy {
  default?: VoiceContractMode;
  byPurpose?: Record<string, VoiceContractMode>;
  /** What a check that found nothing (no key pressed, after its retries) means for a start that required it. */
  onUnknown?: VoiceContractDefaults['onUnknown'];
  /** How a check is made: a call to the number that asks for a key, or a call the person places to the service's number. */
  method?: VoiceContractDefaults['method'];
}

/** A voice-contract policy with every field filled in: the client's own values, the service's for the rest. */
export type EffectiveVoiceContractPolicy = Required<VoiceContractPolicy>;

export function effectiveVoiceContract(stored: VoiceContractPolicy | null, defaults: VoiceContractDefaults): EffectiveVoiceContractPolicy {
  return {
    default: stored?.default ?? defaults.default,
    byPurpose: stored?.byPurpose ?? {},
    onUnknown: stored?.onUnknown ?? defaults.onUnknown,
    method: stored?.method ?? defaults.method,
  };
}

export type AuthedRequest = FastifyRequest & { principal?: Principal };

/** No API key needed (health, metrics, docs, provider callbacks). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/**
 * The route needs `Authorization: Bearer <api key>` whose client holds at least one of `scopes` (none
 * listed: any valid key). Also documents the route in OpenAPI: bearer auth, and the problems every
 * authenticated route can answer (401, 403, the client's request limit, a database that is down).
 * Routes without @Public() need a key all the same (the guard fails closed); this makes it explicit.
 */
export const Authenticated = (...scopes: Scope[]) =>
  applyDecorators(
    SetMetadata(REQUIRED_SCOPES, scopes),
    ApiBearerAuth(),
    ApiProblem('unauthorized'),
    ...(scopes.length ? [ApiProblem('forbidden', `The key lacks the scope ${scopes.join(' or ')}.`)] : []),
    ApiProblem('rate_limited'),
    ApiProblem('service_unavailable'),
  );

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<AuthedRequest>().principal;
  if (!principal) throw new Error('CurrentPrincipal used on a public route');
  return principal;
});
