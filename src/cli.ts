// Command line for operators: `npm run cli -- <command> [options]`.
// With no DATABASE_URL it uses the embedded database under .data/ (the running service's, if it runs).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { parseArgs } from 'node:util';
import { AuditModule } from './audit/audit.module';
import { resolveDatabase } from './bootstrap';
import { ClientsModule } from './clients/clients.module';
import { ClientsService } from './clients/clients.service';
import { SCOPES, Scope } from './common/auth';
import { CommonModule } from './common/common.module';
import { ProblemException } from './common/problem';
import { AppConfig, ConfigError } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';

const USAGE = `Usage: npm run cli -- <command> [options]

Commands:
  clients:create --name <name> --scopes <scope,scope> [--webhook-url <url>]
        Creates a client and prints its first API key (shown only once).
  clients:list
        Lists clients and their keys (never the keys themselves).
  keys:create --client <cli_…>
        Issues another API key for a client (shown only once).
  keys:revoke --client <cli_…> --key <key_…>
        Revokes an API key.

Scopes: ${SCOPES.join(', ')}
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const { values } = parseArgs({
    args: rest,
    options: { name: { type: 'string' }, scopes: { type: 'string' }, 'webhook-url': { type: 'string' }, client: { type: 'string' }, key: { type: 'string' } },
    strict: true,
  });

  let config: AppConfig;
  try {
    // The running service chains the CLI's audit events; the CLI runs no sequencer of its own.
    config = AppConfig.fromEnv(process.env).with({ DEV_CLIENT_ENABLED: 'false', LOG_LEVEL: 'warn', AUDIT_SEQUENCER_ENABLED: 'false' });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const { config: resolved, embedded } = await resolveDatabase(config);

  @Module({ imports: [ConfigModule.forRoot(resolved), CommonModule.forRoot(), DatabaseModule, AuditModule, ClientsModule] })
  class CliModule {}

  const app = await NestFactory.createApplicationContext(CliModule, { logger: ['error', 'warn'] });
  const clients = app.get(ClientsService);
  try {
    switch (command) {
      case 'clients:create': {
        if (!values.name || !values.scopes) fail(`clients:create needs --name and --scopes\n\n${USAGE}`);
        const scopes = values.scopes.split(',').map((s) => s.trim()).filter(Boolean);
        const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
        if (unknown.length || scopes.length === 0) fail(`unknown scope(s): ${unknown.join(', ') || '(none given)'}; known: ${SCOPES.join(', ')}`);
        const created = await clients.createClient({ name: values.name, scopes: scopes as Scope[], webhookUrl: values['webhook-url'] });
        process.stdout.write(
          `Client ${created.id} "${created.name}" created with scopes ${created.scopes.join(', ')}.\n\n` +
            `API key (shown only now, store it in your secret manager):\n\n  ${created.apiKey.key}\n\n` +
            `Webhook signing secret (shown only now):\n\n  ${created.webhookSecret}\n`,
        );
        break;
      }
      case 'clients:list': {
        for (const c of await clients.listClients()) {
          const keys = c.keys.map((k) => `${k.id} (${k.prefix}${k.revokedAt ? ', revoked' : ''})`).join(', ');
          process.stdout.write(`${c.id}  ${c.name}  [${c.scopes.join(', ')}]  keys: ${keys}\n`);
        }
        break;
      }
      case 'keys:create': {
        if (!values.client) fail('keys:create needs --client');
        const key = await clients.createKey(values.client);
        process.stdout.write(`API key ${key.id} (shown only now):\n\n  ${key.key}\n`);
        break;
      }
      case 'keys:revoke': {
        if (!values.client || !values.key) fail('keys:revoke needs --client and --key');
        const key = await clients.revokeKey(values.client, values.key);
        process.stdout.write(`API key ${key.id} revoked at ${key.revokedAt}.\n`);
        break;
      }
      default:
        fail(`unknown command "${command}"\n\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof ProblemException) fail(`error: ${err.detail ?? err.code}`);
    throw err;
  } finally {
    await app.close();
    await embedded?.stop();
  }
}

run(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
