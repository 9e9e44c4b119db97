import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { SkipThrottle } from '@nestjs/throttler';
import { Public } from '../common/auth';
import { ApiProblem } from '../common/problem-docs';
import { MigrationsState } from '../database/migrations-state';

@ApiTags('operations')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly typeorm: TypeOrmHealthIndicator,
    private readonly migrations: MigrationsState,
  ) {}

  // Not rate limited: liveness must not depend on the limiter or on Redis behind it (an orchestrator restarts
  // every instance whose liveness fails), and it does no work worth limiting.
  @Get('live')
  @SkipThrottle()
  @ApiOperation({ operationId: 'getLiveness', summary: 'Liveness: the process answers' })
  @ApiOkResponse({ schema: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] }, example: { status: 'ok' } })
  live() {
    return { status: 'ok' };
  }

  // Not rate limited either: probes come from the orchestrator's address, which behind NAT or a load balancer is that
  // of much other unauthenticated traffic (provider callbacks); a 429 would take a healthy instance out of rotation.
  @Get('ready')
  @SkipThrottle()
  @HealthCheck()
  @ApiOperation({ operationId: 'getReadiness', summary: 'Readiness: database reachable and every migration applied (503 otherwise)' })
  @ApiProblem('service_unavailable', 'The database is unreachable or a migration is pending; `checks` says which.')
  ready() {
    return this.health.check([
      () => this.typeorm.pingCheck('database', { timeout: 2000 }),
      async () => {
        const indicator = this.indicators.check('migrations');
        try {
          const pending = await this.migrations.pending();
          return pending.length ? indicator.down({ message: 'migrations pending', pending }) : indicator.up();
        } catch {
          return indicator.down({ message: 'cannot read the migrations table' });
        }
      },
    ]);
  }
}
