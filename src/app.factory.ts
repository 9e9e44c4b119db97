import { randomUUID } from 'node:crypto';
import { ValidationError, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule, AppModuleOptions } from './app.module';
import { guardedJsonParser } from './common/json-body';
import { FieldError, Problems } from './common/problem';
import { clientErrorResponder, sendFrameworkProblem } from './common/problem.filter';
import { StorableTextPipe } from './common/storable-text.pipe';
import { MetricsService } from './metrics/metrics.service';
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

/** Builds the application exactly as production runs it; main.ts and the e2e tests both use this. */
export async function createApp(options: AppModuleOptions): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: options.config.http.trustProxy,
    // A caller may send its own X-Request-Id to correlate logs; otherwise one is made.
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    logger: false,
    // What the router and Node's HTTP parser refuse before any hook runs is problem+json with a request id too.
    frameworkErrors: sendFrameworkProblem,
    clientErrorHandler: clientErrorResponder(() => randomUUID()),
  });
  // JSON bodies: at most 16 KiB (bodyLimit) and 32 levels deep.
  adapter.useBodyParser('application/json', false, { bodyLimit: BODY_LIMIT_BYTES }, guardedJsonParser(adapter.getInstance().getDefaultJsonParser('error', 'error')));
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(options), adapter, { bufferLogs: true });
  app.useLogger(app.get(Logger));

  app.useGlobalPipes(
    new StorableTextPipe(),
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      stopAtFirstError: false,
      exceptionFactory: (errors) => Problems.validation(flattenValidationErrors(errors)),
    }),
  );

  const fastify = app.getHttpAdapter().getInstance();
  const metrics = app.get(MetricsService);
  for (const metric of app.get(FallbackThrottlerStorage).metrics) metrics.registry.registerMetric(metric);
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
  });
  // Graceful shutdown: once close() starts, answers to requests still in flight close their connection,
  // so keep-alive sockets do not hold the process open.
  let closing = false;
  fastify.addHook('preClose', async () => {
    closing = true;
  });
  fastify.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('Connection', 'close');
  });
  fastify.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions?.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('OTP Verify API')
      .setDescription(
        'SMS one-time-password verification for internal banking and payment services. Errors are application/problem+json (RFC 9457) with a stable `code`.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API key: otp_<prefix>_<secret>' })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });

  return app;
}
