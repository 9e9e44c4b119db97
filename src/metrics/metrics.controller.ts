import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../common/auth';
import { ProblemException } from '../common/problem';
import { MetricsService } from './metrics.service';

@ApiTags('operations')
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ operationId: 'getMetrics', summary: 'Prometheus metrics' })
  @ApiOkResponse({
    description: 'The Prometheus text exposition format.',
    content: { 'text/plain': { schema: { type: 'string' }, example: '# HELP http_request_duration_seconds …\n# TYPE http_request_duration_seconds histogram\n' } },
  })
  async scrape(): Promise<string> {
    try {
      return await this.metrics.scrape();
    } catch (err) {
      // WORKERS > 1 only, with the cluster's primary not answering (it is stopping, or gone).
      throw new ProblemException(503, 'service_unavailable', `The workers' metrics could not be gathered: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
