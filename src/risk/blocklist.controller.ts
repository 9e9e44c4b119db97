import { Body, Controller, Delete, Get, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Authenticated, CurrentPrincipal, Principal } from '../common/auth';
import { ApiBodyProblems, ApiProblem } from '../common/problem-docs';
import { IdParam } from '../common/resource-id.pipe';
import { ActingAdmin, BlocklistService } from './blocklist.service';
import { BlocklistEntryView, BlocklistPageView, CreateBlocklistEntryDto, ListBlocklistQuery } from './dto/blocklist.dto';

const admin = (who: Principal, req: FastifyRequest): ActingAdmin => ({ actor: { type: 'admin', id: who.keyId }, ip: req.ip });

@ApiTags('admin')
@Authenticated('admin')
@Controller('v1/admin/blocklist')
export class BlocklistController {
  constructor(private readonly blocklist: BlocklistService) {}

  @Post()
  @ApiOperation({
    operationId: 'addBlocklistEntry',
    summary: 'Blocklist a number or a prefix (audited as blocklist.added)',
    description: 'Starts for the number, or for any number under the prefix, are denied: 403 risk_denied with reason `blocklisted`, until the entry expires or is removed.',
  })
  @ApiCreatedResponse({ type: BlocklistEntryView })
  @ApiBodyProblems('Both or neither of number and prefix, a number not in E.164 form, a bad prefix, a reason out of 1-200 characters, a past expiresAt, an unknown field; nothing changed.')
  @ApiProblem('conflict', 'The same number or prefix is already blocklisted (and not expired).')
  add(@Body() dto: CreateBlocklistEntryDto, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<BlocklistEntryView> {
    return this.blocklist.add(dto, admin(who, req));
  }

  @Get()
  @ApiOperation({ operationId: 'listBlocklistEntries', summary: 'List blocklist entries, newest first (expired ones too, with their expiresAt)' })
  @ApiOkResponse({ type: BlocklistPageView })
  @ApiProblem('validation_failed', 'limit out of 1-500, or a cursor this list did not make.')
  list(@Query() q: ListBlocklistQuery): Promise<BlocklistPageView> {
    return this.blocklist.list(q.limit, q.cursor);
  }

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({ operationId: 'removeBlocklistEntry', summary: 'Remove a blocklist entry (audited as blocklist.removed); answers the removed entry' })
  @ApiOkResponse({ type: BlocklistEntryView })
  @ApiProblem('not_found', 'No such entry.')
  remove(@IdParam('id') id: string, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<BlocklistEntryView> {
    return this.blocklist.remove(id, admin(who, req));
  }
}
