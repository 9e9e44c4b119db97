import { randomUUID } from 'node:crypto';
import { Logger as NestLogger, ValidationError, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import { Logger, PinoLogger } from 'nestjs-pino';
import { AppModule, AppModuleOptions } from './app.module';
import { startupLogger } from './bootstrap';
import { AuditMetrics } from './audit/audit.metrics';
import { guardedJsonParser } from './common/json-body';
import { FieldError, ProblemException, Problems } from './common/problem';
import { clientErrorResponder, sendFrameworkProblem, sendProblem } from './common/problem.filter';
import { StorableTextPipe } from './common/storable-text.pipe';
import { useConstraintInstances } from './common/validator-container';
import { Housekeeping } from './database/housekeeping';
import { PoolMetrics } from './database/pool.metrics';
import { GatewayMetrics } from './gateway/gateway.metrics';
import { OutboxDispatcher } from './gateway/outbox.dispatcher';
import { OutboxMetrics } from './gateway/outbox.metrics';
import { MetricsService } from './metrics/metrics.service';
import { SuspensionsService } from './risk/suspensions.service';
import { describeApi } from './openapi';
import { FallbackThrottlerStorage } from './throttling/fallback-throttler.storage';

export const BODY_LIMIT_BYTES = 16 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({
      field,
      message: message === `property ${e.property} should not exist` ? `${field} is not a known field` : message,
    }));
    return [...own, ...flattenValidationErrors(e.children ?? [], field)];
  });
}

const shutdownLogger = new NestLogger('Shutdown');

/** Knows when the app starts shutting down (Nest calls beforeClose first, then close). */
class ShutdownAwareAdapter extends FastifyAdapter {
  shuttingDown = false;
  beforeClose(): void {
    this.shuttingDown = true;
    super.beforeClose();
  }
  async close(): Promise<void> {
    this.shuttingDown = true;
    await super.close();
  }
}

/**
 * Request logging on Fastify's own hooks: what is logged while serving a request carries it (`req`: id, method,
 * path), and each answer is one line, `request completed` (`request errored` for a 5xx) with the request (its
 * headers redacted), the response and `responseTime` in ms, written only when its level is on: `warn` for a
 * deliberate 503 (shutting down, the database down), `error` for any other 5xx (an unexpected failure), else `info`.
 * Before the first hook that can answer (shutdown's 503), so that those answers are logged too.
 */
function logRequests(fastify: FastifyInstance, pino: PinoLogger): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    pino.runInContext(() => done(), { bindings: { req: { id: request.id, method: request.method, url: request.url } } });
  });
  fastify.addHook('onResponse', async (request, reply) => {
    const root = PinoLogger.root;
    const status = reply.statusCode;
    const level = status === 503 ? 'warn' : status >= 500 ? 'error' : 'info';
    if (!root?.isLevelEnabled(level)) return;
    root[level](
      { req: { id: request.id, method: request.method, url: request.url, headers: request.headers }, res: reply.raw, responseTime: Math.round(reply.elapsedTime) },
      status >= 500 ? 'request errored' : 'request completed',
    );
  });
}

/** Builds the application exactly as production runs it; main.ts and the e2e tests both use this. */
export async function createApp(options: AppModuleOptions): Promise<NestFastifyApplication> {
  const adapter = new ShutdownAwareAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: options.config.http.trustProxy,
    // A caller may send its own X-Request-Id to correlate logs; otherwise one is made.
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Requests arriving during shutdown get our own 503 problem+json (below), not Fastify's plain JSON one.
    return503OnClosing: false,
    logger: false,
    // What the router and Node's HTTP parser refuse before any hook runs is problem+json with a request id too.
    frameworkErrors: sendFrameworkProblem,
    clientErrorHandler: clientErrorResponder(() => randomUUID()),
  });
  // JSON bodies: at most 16 KiB (bodyLimit) and 32 levels deep. The raw bytes are kept too (req.rawBody):
  // signed provider callbacks (Vonage) are verified over exactly what was received.
  adapter.useBodyParser('application/json', true, { bodyLimit: BODY_LIMIT_BYTES }, guardedJsonParser(adapter.getInstance().getDefaultJsonParser('error', 'error')));
  // Until pino takes over, and if start-up fails before it does, Nest logs the same JSON lines (startupLogger);
  // a failure is thrown to the caller (main.ts logs it and exits non-zero) rather than exiting from inside Nest.
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(options), adapter, { bufferLogs: true, abortOnError: false, logger: startupLogger });
  app.useLogger(app.get(Logger));

  useConstraintInstances();
  app.useGlobalPipes(
    new StorableTextPipe(),
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      stopAtFirstError: false,
      // The pipe's own default, set here so that its per-request `{ ...validatorOptions, validationError }` overwrites a
      // property instead of adding one (which, after a spread, costs a hidden class per request: docs/performance-log.md).
      validationError: { target: false },
      exceptionFactory: (errors) => Problems.validation(flattenValidationErrors(errors)),
    }),
  );

  const fastify = app.getHttpAdapter().getInstance();
  const metrics = app.get(MetricsService);
  const registered = [
    ...app.get(FallbackThrottlerStorage).metrics,
    ...app.get(GatewayMetrics).all,
    ...app.get(Housekeeping).metrics.all,
    // What shows an instance or the database nearing a limit (docs/scaling.md, "Seeing it coming").
    ...app.get(PoolMetrics).all,
    ...app.get(AuditMetrics).all,
    ...app.get(OutboxMetrics).all,
  ];
  for (const metric of registered) metrics.registry.registerMetric(metric);
  metrics.registry.registerMetric(app.get(SuspensionsService).trips);
  logRequests(fastify, await app.resolve(PinoLogger));
  // Graceful shutdown: from the moment it starts, new requests are turned away with 503 (and their connection
  // closed), and answers to requests still in flight close theirs, so keep-alive sockets do not hold the process.
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
    if (adapter.shuttingDown) {
      reply.header('Connection', 'close');
      const problem = new ProblemException(503, 'service_unavailable', 'This instance is shutting down; retry (another instance will answer).', { headers: { 'Retry-After': '1' } });
      sendProblem(problem, request, reply, shutdownLogger);
      return reply;
    }
  });
  fastify.addHook('onSend', async (_request, reply) => {
    if (adapter.shuttingDown) reply.header('Connection', 'close');
  });
  // Fastify runs onClose once the server has closed and every in-flight request has been answered: then the
  // sends those requests started finish and record their outcome, before any module (the pool) closes.
  fastify.addHook('onClose', async () => app.get(OutboxDispatcher).drain());
  fastify.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions?.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  const document = describeApi(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });

  return app;
}
