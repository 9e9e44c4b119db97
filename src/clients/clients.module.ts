import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { WebhookTargets } from '../common/webhook-targets';
import { ClientsController } from './clients.controller';
import { ClientsRepository } from './clients.repository';
import { ClientsService } from './clients.service';
import { DevClientService } from './dev-client.service';
import { CLIENTS_ENTITIES } from './entities';

/**
 * Calling services (clients), their hashed API keys and scopes. Provides the global guard behind the auth
 * contract of `common/auth` (@Authenticated / @Public / Principal; app.module registers it, before the
 * throttler), and the clients' webhook targets.
 * Global, so that modules reach `WebhookTargets` through the port in common without importing this one.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature(CLIENTS_ENTITIES)],
  controllers: [ClientsController],
  providers: [ClientsService, ClientsRepository, DevClientService, { provide: WebhookTargets, useExisting: ClientsRepository }],
  exports: [ClientsService, WebhookTargets],
})
export class ClientsModule {}
