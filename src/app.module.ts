import { hostname } from 'node:os';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AuditModule } from './audit/audit.module';
import { AuthGuard } from './clients/auth.guard';
import { ClientsModule } from './clients/clients.module';
import { Clock } from './common/clock';
import { CommonModule } from './common/common.module';
import { safeErrorSerializer } from './common/log-serializers';
import { ProblemFilter } from './common/problem.filter';
import type { HostResolver } from './common/webhook-destinations';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { GatewayModule } from './gateway/gateway.module';
import { HealthModule } from './health/health.module';
import { IssuanceModule } from './issuance/issuance.module';
import { MetricsModule } from './metrics/metrics.module';
import { RiskModule } from './risk/risk.module';
import { ClientThrottlerGuard } from './throttling/client-throttler.guard';
import { ThrottlingModule } from './throttling/throttling.module';
import { VerificationModule } from './verification/verification.module';

export interface AppModuleOptions {
  config: AppConfig;
  /** Where JSON logs go (stdout by default); tests collect them to search for secrets. */
  logStream?: DestinationStream;
  /** Replaces the system clock (tests). */
  clock?: Clock;
  /** Replaces the system's DNS for webhook destinations (tests). */
  resolver?: HostResolver;
}

// x-twilio-signature: a valid one, replayed with its parameters and URL, passes the callback check.
const REDACTED = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'req.headers["x-twilio-signature"]', 'res.headers["set-cookie"]'];

@Module({})
export class AppModule {
  static forRoot({ config, logStream, clock, resolver }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({
          // No middleware: requests are logged by Fastify hooks (app.factory.ts, logRequests), which bind the request
          // to the logs made while serving it without pino-http's per-request child loggers or an Express-style
          // middleware chain (together about a fifth of the service's CPU per start).
          forRoutes: [],
          pinoHttp: [
            {
              level: config.logLevel,
              redact: { paths: REDACTED, censor: '[redacted]' },
              base: { pid: process.pid, hostname: hostname(), service: 'otp-verify' },
              // Query strings are dropped (they may carry phone numbers); the authorization header is redacted.
              serializers: {
                err: safeErrorSerializer,
                req: (req: { id: string; method: string; url: string; headers: Record<string, unknown> }) => ({
                  id: req.id,
                  method: req.method,
                  url: req.url.split('?')[0],
                  headers: req.headers,
                }),
              },
            },
            ...(logStream ? [logStream] : []),
          ] as never,
        }),
        CommonModule.forRoot(clock, resolver),
        DatabaseModule,
        MetricsModule,
        ThrottlingModule,
        AuditModule,
        ClientsModule,
        GatewayModule.forRoot(config),
        RiskModule,
        IssuanceModule,
        VerificationModule,
        HealthModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ProblemFilter },
        // Order matters: authenticate first, so that rate limits count per API client.
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: ClientThrottlerGuard },
      ],
    };
  }
}
