/**
 * The Nest floor: the fair floor's work (bench/floor.js, the same SQL per request, the send to the provider after
 * commit, the audit chain and the approvals' fold in the background) served by a minimal NestJS application, so that
 * floor → Nest floor is what the framework alone costs and Nest floor → service is what the service adds on top of it
 * (auth, logging, throttling, interceptors, rule evaluation, views, the ORM).
 *
 * Only what "a Nest route doing the same SQL" needs: the service's adapter (@nestjs/platform-fastify, its 16 KiB body
 * limit), one controller with the two routes, the global ValidationPipe with the service's options (src/app.factory.ts)
 * and class-validator DTOs with the service's decorators for the fields the bench sends. No guard, no middleware, no
 * interceptor, no throttler, no exception filter of ours, no logger but Nest's own for errors.
 *
 * Same contract as floor.js: FLOOR_DATABASE_URL, FLOOR_PORT, FLOOR_CLIENT_ID, FLOOR_POOL_SIZE, FLOOR_SMS_URL,
 * FLOOR_PROVIDER_TOKEN, FLOOR_HMAC_KEYS, FLOOR_PHONE_KEY; 'ready' over IPC once listening; SIGTERM stops the loops,
 * closes the server and the pool, exits 0. Built by `npm run bench` (bench/tsconfig.json) to dist/bench/nest-floor/main.js.
 */
import 'reflect-metadata';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Body, Controller, Headers, HttpCode, Inject, Module, Param, Post, Req, Res, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { IsString, Matches, MaxLength } from 'class-validator';
import type { FastifyReply, FastifyRequest } from 'fastify';

type Answer = { status: number; body: string };
interface Floor {
  pool: { end(): Promise<void> };
  start(input: { phoneNumber: string; purpose: string }, idemKey: string | undefined, ip: string): Promise<Answer>;
  check(id: string, input: { code: string }, ip: string): Promise<Answer>;
  stopLoops(): void;
}

// floor.js is plain JavaScript beside this file's source (bench/), and this runs from its source (jest) or its
// build (dist/bench/nest-floor): look up from here for the checkout that holds it.
function checkoutRoot(dir: string): string {
  while (!existsSync(path.join(dir, 'bench', 'floor.js'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`bench/floor.js not found above ${__dirname}`);
    dir = up;
  }
  return dir;
}
const { createFloor, SERVICE_HEAP_FLAGS } = require(path.join(checkoutRoot(__dirname), 'bench', 'floor.js')) as {
  createFloor(env: NodeJS.ProcessEnv): Floor;
  SERVICE_HEAP_FLAGS: string[];
};

const FLOOR = Symbol('floor');

/** The start body's fields the bench sends, with the decorators of src/issuance/dto/start-verification.dto.ts. */
export class StartDto {
  @IsString()
  @MaxLength(32)
  phoneNumber!: string;

  @IsString()
  @Matches(/^[a-z0-9_.-]{1,64}$/, { message: 'purpose must be 1-64 characters of a-z 0-9 _ . -' })
  purpose!: string;
}

/** The check body, with the decorators of src/verification/dto/check.dto.ts. */
export class CheckDto {
  @IsString()
  @Matches(/^\d{4,10}$/, { message: 'code must be 4 to 10 digits' })
  code!: string;
}

@Controller('v1/verifications')
class FloorController {
  constructor(@Inject(FLOOR) private readonly floor: Floor) {}

  // As the service's controllers do: the status set on the reply (passthrough), the body returned to Nest. The floor's
  // body is already JSON text (the start's is the stored idempotent answer), sent as it is.
  @Post()
  async start(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply, @Body() dto: StartDto, @Headers('idempotency-key') idemKey?: string): Promise<string> {
    const out = await this.floor.start(dto, idemKey, req.ip);
    reply.status(out.status).type('application/json');
    return out.body;
  }

  @Post(':id/check')
  @HttpCode(200)
  async check(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply, @Param('id') id: string, @Body() dto: CheckDto): Promise<string> {
    const out = await this.floor.check(id, dto, req.ip);
    reply.status(out.status).type('application/json');
    return out.body;
  }
}

/** The app around a floor (its handlers and loops); not listening yet. */
export async function createNestFloor(floor: Floor): Promise<NestFastifyApplication> {
  @Module({ controllers: [FloorController], providers: [{ provide: FLOOR, useValue: floor }] })
  class NestFloorModule {}

  // the service's body limit; keep-alive as floor.js's server, and its SIGTERM's closeAllConnections
  const adapter = new FastifyAdapter({ bodyLimit: 16 * 1024, logger: false, keepAliveTimeout: 30_000, forceCloseConnections: true });
  const app = await NestFactory.create<NestFastifyApplication>(NestFloorModule, adapter, { logger: ['error', 'warn'] });
  // the service's options (src/app.factory.ts), with Nest's own 400 in place of its problem+json
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, stopAtFirstError: false }));
  return app;
}

async function main(): Promise<void> {
  for (const flag of SERVICE_HEAP_FLAGS) setFlagsFromString(flag);
  const floor = createFloor(process.env);
  const app = await createNestFloor(floor);
  await app.listen(Number(process.env.FLOOR_PORT), '127.0.0.1');
  process.send?.('ready');
  process.once('SIGTERM', () => {
    floor.stopLoops();
    void app
      .close()
      .then(() => floor.pool.end())
      .then(() => process.exit(0));
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`nest floor: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
