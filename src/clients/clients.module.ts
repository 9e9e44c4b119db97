import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { WebhookTargets } from '../common/webhook-targets';
import { ClientsController } from './clients.controller';
import { ClientsRepository } from './clients.repository';
import { ClientsService } from './clients.service';
import { DevClientService } from './dev-client.service';
import { CLIENTS_ENTITIES } from './entities';
import { TestNumbersController } from './test-numbers.controller';
import { TestNumbersRepository } from './test-numbers.repository';
import { TestNumbersService } from './test-numbers.service';

/**
 * Calling services (clients), their hashed API keys and scopes, and their test numbers (`client_test_numbers`). Provides the global guard behind the auth
 * contract of `common/auth` (@Authenticated / @Public / Principal; app.module registers it, before the
 * throttler), and the clients' webhook targets.
 * Global, so that modules reach `WebhookTargets` through the port in common without importing this one.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature(CLIENTS_ENTITIES)],
  controllers: [ClientsController, TestNumbersController],
  providers: [ClientsService, ClientsRepository, DevClientService, TestNumbersRepository, TestNumbersService, { provide: WebhookTargets, useExisting: ClientsRepository }],
  exports: [ClientsService, TestNumbersService, WebhookTargets],
})
export class ClientsModule {}
