import { Body, Controller, Delete, Get, HttpCode, Post, Put, Req } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { CurrentPrincipal, Principal, Authenticated } from '../common/auth';
import { ApiBodyProblems, ApiProblem } from '../common/problem-docs';
import { IdParam } from '../common/resource-id.pipe';
import { ActingAs, ClientsService } from './clients.service';
import { CreateClientDto } from './dto/create-client.dto';
import { ApiClientListView, ApiClientView, ApiKeyView, ClientPolicyView, CreatedClientView, CreatedKeyView, RotatedWebhookSecretView } from './dto/client.views';
import { UpdateClientPolicyDto } from './dto/update-client-policy.dto';

const admin = (who: Principal, req: FastifyRequest): ActingAs => ({ actor: { type: 'admin', id: who.keyId }, ip: req.ip });

@ApiTags('admin')
@Authenticated('admin')
@Controller('v1/admin/clients')
export class ClientsController {
  constructor(private readonly clients: ClientsService) {}

  @Post()
  @ApiOperation({ operationId: 'createClient', summary: 'Create a client with its first API key and its webhook secret (both shown once)' })
  @ApiCreatedResponse({ type: CreatedClientView })
  @ApiBodyProblems()
  @ApiProblem('client_name_taken')
  create(@Body() dto: CreateClientDto, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<CreatedClientView> {
    return this.clients.createClient(dto, undefined, admin(who, req));
  }

  @Get()
  @ApiOperation({ operationId: 'listClients', summary: 'List clients and their keys (never the keys themselves)' })
  @ApiOkResponse({ type: ApiClientListView })
  async list(): Promise<{ items: ApiClientView[] }> {
    return { items: await this.clients.listClients() };
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getClient', summary: 'A client and its keys (never the keys themselves)' })
  @ApiOkResponse({ type: ApiClientView })
  @ApiProblem('not_found')
  get(@IdParam('id') id: string): Promise<ApiClientView> {
    return this.clients.getClient(id);
  }

  @Post(':id/keys')
  @ApiOperation({ operationId: 'createApiKey', summary: 'Issue another API key for a client (shown once)' })
  @ApiCreatedResponse({ type: CreatedKeyView })
  @ApiProblem('not_found')
  createKey(@IdParam('id') id: string, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<CreatedKeyView> {
    return this.clients.createKey(id, undefined, admin(who, req));
  }

  @Delete(':id/keys/:keyId')
  @HttpCode(200)
  @ApiOperation({ operationId: 'revokeApiKey', summary: 'Revoke an API key; every instance refuses it within API_KEY_CACHE_TTL_SECONDS' })
  @ApiOkResponse({ type: ApiKeyView, description: 'The key, now with revokedAt.' })
  @ApiProblem('not_found', 'No such client, or no such key of this client.')
  revokeKey(
    @IdParam('id') id: string,
    @IdParam('keyId') keyId: string,
    @CurrentPrincipal() who: Principal,
    @Req() req: FastifyRequest,
  ): Promise<ApiKeyView> {
    return this.clients.revokeKey(id, keyId, admin(who, req));
  }

  @Post(':id/webhook-secret::rotate')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'rotateWebhookSecret',
    summary: 'Rotate the webhook signing secret (audited as client.webhook_secret_rotated)',
    description:
      'Answers the new secret once. For WEBHOOK_SECRET_ROTATION_OVERLAP_HOURS every webhook carries two signatures ' +
      '(new and previous, space-separated in `webhook-signature`), so the receiver can switch secrets without losing one.',
  })
  @ApiOkResponse({ type: RotatedWebhookSecretView })
  @ApiProblem('not_found', 'No such client.')
  rotateWebhookSecret(@IdParam('id') id: string, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<RotatedWebhookSecretView> {
    return this.clients.rotateWebhookSecret(id, admin(who, req));
  }

  @Post(':id/webhook-endpoint::enable')
  @HttpCode(200)
  @ApiOperation({ operationId: 'enableWebhookEndpoint', summary: "Send webhooks to the client's URL again after it answered 410 Gone (audited as client.webhook_enabled)" })
  @ApiOkResponse({ type: ApiClientView })
  @ApiProblem('not_found', 'No such client.')
  enableWebhookEndpoint(@IdParam('id') id: string, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<ApiClientView> {
    return this.clients.enableWebhookEndpoint(id, admin(who, req));
  }

  @Get(':id/policy')
  @ApiOperation({
    operationId: 'getClientPolicy',
    summary: "A client's effective policy",
    description:
      'Its own values, and for the fields no admin has set (listed in `defaults`) the service configuration: ' +
      '`maxCheckAttempts` from OTP_MAX_ATTEMPTS, `requestsPerMinute` from THROTTLE_LIMIT per THROTTLE_TTL_SECONDS.',
  })
  @ApiOkResponse({ type: ClientPolicyView })
  @ApiProblem('not_found', 'No such client.')
  getPolicy(@IdParam('id') id: string): Promise<ClientPolicyView> {
    return this.clients.getPolicy(id);
  }

  @Put(':id/policy')
  @ApiOperation({
    operationId: 'updateClientPolicy',
    summary: "Change a client's policy (audited as client.policy_updated)",
    description:
      'Sets the fields given; `null` puts a field back to the service default; fields left out keep their value. ' +
      'The change and its audit event (stored values before and after, the admin key as actor) are written in one ' +
      'transaction. It takes effect at once on the instance that took it and within API_KEY_CACHE_TTL_SECONDS on the others. ' +
      'Answers the effective policy, as GET does.',
  })
  @ApiOkResponse({ type: ClientPolicyView })
  @ApiBodyProblems('A value out of range or of the wrong type, or an unknown field; nothing changed.')
  @ApiProblem('not_found', 'No such client.')
  updatePolicy(
    @IdParam('id') id: string,
    @Body() dto: UpdateClientPolicyDto,
    @CurrentPrincipal() who: Principal,
    @Req() req: FastifyRequest,
  ): Promise<ClientPolicyView> {
    return this.clients.updatePolicy(id, dto, admin(who, req));
  }
}
