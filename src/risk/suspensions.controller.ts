import { Controller, Delete, Get, HttpCode, Query, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Authenticated, CurrentPrincipal, Principal } from '../common/auth';
import { ApiProblem } from '../common/problem-docs';
import { IdParam } from '../common/resource-id.pipe';
import type { ActingAdmin } from './blocklist.service';
import { ListSuspensionsQuery, SuspensionPageView, SuspensionView } from './dto/suspension.dto';
import { SuspensionsService } from './suspensions.service';

const admin = (who: Principal, req: FastifyRequest): ActingAdmin => ({ actor: { type: 'admin', id: who.keyId }, ip: req.ip });

@ApiTags('admin')
@Authenticated('admin')
@Controller('v1/admin/suspensions')
export class SuspensionsController {
  constructor(private readonly suspensions: SuspensionsService) {}

  @Get()
  @ApiOperation({
    operationId: 'listSuspensions',
    summary: 'Units the SMS-pumping rules tripped (number prefixes, countries, end-user IPs), newest first, with the figures that tripped them',
    description: 'Released and expired ones are listed too (`active: false`) unless `active=true`.',
  })
  @ApiOkResponse({ type: SuspensionPageView })
  @ApiProblem('validation_failed', 'limit out of 1-500, a cursor this list did not make, or active not true/false.')
  list(@Query() q: ListSuspensionsQuery): Promise<SuspensionPageView> {
    return this.suspensions.list(q.limit, q.cursor, q.active === true);
  }

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({ operationId: 'releaseSuspension', summary: 'Release a suspension now (audited as suspension.released); answers it, released' })
  @ApiOkResponse({ type: SuspensionView })
  @ApiProblem('not_found', 'No such suspension.')
  @ApiProblem('conflict', 'It was already released, or has expired.')
  release(@IdParam('id') id: string, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<SuspensionView> {
    return this.suspensions.release(id, admin(who, req));
  }
}
