import { Body, Controller, Delete, Get, HttpCode, Post, Req } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { CurrentPrincipal, Principal, Authenticated } from '../common/auth';
import { IdParam } from '../common/resource-id.pipe';
import { ActingAs, ClientsService } from './clients.service';
import { CreateClientDto } from './dto/create-client.dto';
import { ApiClientView, ApiKeyView, CreatedClientView, CreatedKeyView } from './dto/client.views';

const admin = (who: Principal, req: FastifyRequest): ActingAs => ({ actor: { type: 'admin', id: who.keyId }, ip: req.ip });

@ApiTags('admin')
@Authenticated('admin')
@Controller('v1/admin/clients')
export class ClientsController {
  constructor(private readonly clients: ClientsService) {}

  @Post()
  @ApiOperation({ summary: 'Create a client with its first API key (shown once)' })
  @ApiCreatedResponse({ type: CreatedClientView })
  create(@Body() dto: CreateClientDto, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<CreatedClientView> {
    return this.clients.createClient(dto, undefined, admin(who, req));
  }

  @Get()
  @ApiOperation({ summary: 'List clients and their keys (never the keys themselves)' })
  @ApiOkResponse({ type: [ApiClientView] })
  async list(): Promise<{ items: ApiClientView[] }> {
    return { items: await this.clients.listClients() };
  }

  @Get(':id')
  @ApiOkResponse({ type: ApiClientView })
  get(@IdParam('id') id: string): Promise<ApiClientView> {
    return this.clients.getClient(id);
  }

  @Post(':id/keys')
  @ApiOperation({ summary: 'Issue another API key for a client (shown once)' })
  @ApiCreatedResponse({ type: CreatedKeyView })
  createKey(@IdParam('id') id: string, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<CreatedKeyView> {
    return this.clients.createKey(id, undefined, admin(who, req));
  }

  @Delete(':id/keys/:keyId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke an API key; every instance refuses it within API_KEY_CACHE_TTL_SECONDS' })
  @ApiOkResponse({ type: ApiKeyView })
  revokeKey(
    @IdParam('id') id: string,
    @IdParam('keyId') keyId: string,
    @CurrentPrincipal() who: Principal,
    @Req() req: FastifyRequest,
  ): Promise<ApiKeyView> {
    return this.clients.revokeKey(id, keyId, admin(who, req));
  }
}
