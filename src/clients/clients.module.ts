import { Module } from '@nestjs/common';
import { ClientsController } from './clients.controller';
import { ClientsService } from './clients.service';
import { DevClientService } from './dev-client.service';

@Module({
  controllers: [ClientsController],
  providers: [ClientsService, DevClientService],
  exports: [ClientsService],
})
export class ClientsModule {}
