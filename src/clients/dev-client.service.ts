import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { apiKeyFromString } from './api-keys';
import { ClientsService } from './clients.service';
import { SCOPES } from '../common/auth';

const DEV_CLIENT_NAME = 'dev';

/**
 * Outside production, so that the README's curl examples work at once: on first start, creates a client
 * `dev` with every scope and prints its key once (or uses DEV_API_KEY when set).
 */
@Injectable()
export class DevClientService implements OnApplicationBootstrap {
  private readonly logger = new Logger('DevClient');

  constructor(
    private readonly config: AppConfig,
    private readonly clients: ClientsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { enabled, apiKey } = this.config.clients.devClient;
    if (!enabled) return;
    const fixed = apiKey ? apiKeyFromString(apiKey) : undefined;
    const existing = await this.clients.findByName(DEV_CLIENT_NAME);
    if (existing) {
      if (fixed && !(await this.clients.hasActiveKey(fixed))) {
        await this.clients.createKey(existing.id, fixed);
        this.logger.log('DEV_API_KEY added to the dev client');
      }
      return;
    }
    const created = await this.clients.createClient({ name: DEV_CLIENT_NAME, scopes: [...SCOPES] }, fixed);
    if (fixed) {
      this.logger.log(`dev client ${created.id} created with the key from DEV_API_KEY`);
      return;
    }
    // Printed once, to the terminal rather than the JSON log, like `clients:create` does.
    process.stdout.write(
      `\n  Development client "dev" created with every scope. Its API key (shown only now):\n\n    ${created.apiKey.key}\n\n` +
        `  export OTP_API_KEY=${created.apiKey.key}\n\n`,
    );
  }
}
