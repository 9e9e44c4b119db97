import { randomBytes } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditEventInput, AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { newId, randomToken } from '../common/ids';
import { ProblemException, Problems } from '../common/problem';
import { WebhookDestinations } from '../common/webhook-destinations';
import { AppConfig } from '../config/app-config';
import { GeneratedKey, generateApiKey, hashApiKey, keyMatches, lookupPrefix } from './api-keys';
import { effectiveVoiceContract, type Principal } from '../common/auth';
import { ApiClientView, ApiKeyView, CLIENT_POLICY_FIELDS, ClientPolicyView, CreatedClientView, CreatedKeyView, RotatedWebhookSecretView } from './dto/client.views';
import type { UpdateClientPolicyDto } from './dto/update-client-policy.dto';
import { ApiClient } from './entities/api-client.entity';
import { ApiKey } from './entities/api-key.entity';
import type { Scope } from '../common/auth';
import { ClientsRepository, StoredClientPolicy } from './clients.repository';

interface CachedKey {
  /** null: no active key has this prefix (cached too, so an unknown prefix costs what a known one does). */
  principal: Principal | null;
  keyId: string;
  keyHash: Buffer;
  /** On the monotonic clock (performance.now()). */
  expiresAt: number;
}

/** Who is acting, for the audit trail: an admin's API key from the API, `system` from the CLI and at boot. */
export interface ActingAs {
  actor: AuditEventInput['actor'];
  ip?: string | null;
}

const SYSTEM: ActingAs = { actor: { type: 'system', id: null } };

/** Compared against when no key has the prefix: the same work as a wrong secret for a real key. */
const NO_KEY_HASH = hashApiKey(`otp_unknown_${randomToken(40)}`);

export interface CreateClientInput {
  name: string;
  scopes: Scope[];
  webhookUrl?: string | null;
  maxCheckAttempts?: number | null;
}

@Injectable()
export class ClientsService {
  private readonly logger = new Logger(ClientsService.name);
  /**
   * prefix → resolved key, or its absence. Short-lived so a revoke on another instance takes effect within
   * seconds; bounded, so a flood of random prefixes cannot grow it without end.
   */
  private readonly cache = new Map<string, CachedKey>();
  private static readonly CACHE_LIMIT = 10_000;
  /**
   * prefix → its database read in flight: the requests that find a key missing or expired together share one read
   * (at 50 concurrent requests, each expiry of a busy key had sent up to 50 identical reads to the pool).
   */
  private readonly loading = new Map<string, Promise<CachedKey>>();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly repo: ClientsRepository,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly audit: AuditService,
    private readonly destinations: WebhookDestinations,
  ) {}

  /**
   * Resolves a presented API key to its client, or undefined for unknown, revoked or disabled keys. An
   * unknown prefix and a known prefix with a wrong secret take the same path (one cache lookup, at most one
   * database read per TTL, one constant-time hash comparison), so timing does not tell which prefixes exist.
   */
  async authenticate(presented: string): Promise<Principal | undefined> {
    const prefix = lookupPrefix(presented);
    // The cache is timed on the monotonic clock: were the wall clock stepped back an hour, a key revoked on another
    // instance would stay accepted here an hour longer than the TTL.
    const now = performance.now();
    let entry = this.cache.get(prefix);
    if (!entry || entry.expiresAt <= now) entry = await this.loadShared(prefix, now);
    const matches = keyMatches(presented, entry.keyHash);
    return matches && entry.principal ? entry.principal : undefined;
  }

  /** One read per prefix at a time; a read made stale by a change to the key (`forget`) is not cached. */
  private loadShared(prefix: string, now: number): Promise<CachedKey> {
    const inFlight = this.loading.get(prefix);
    if (inFlight) return inFlight;
    const read: Promise<CachedKey> = this.load(prefix, now)
      .then((entry) => {
        if (this.loading.get(prefix) === read) this.remember(prefix, entry);
        return entry;
      })
      .finally(() => {
        if (this.loading.get(prefix) === read) this.loading.delete(prefix);
      });
    this.loading.set(prefix, read);
    return read;
  }

  /** Drops what this instance knows of a prefix, cached or being read, so that the next request reads it again. */
  private forget(prefix: string): void {
    this.cache.delete(prefix);
    this.loading.delete(prefix);
  }

  private async load(prefix: string, now: number): Promise<CachedKey> {
    const row = await this.repo.findActiveKey(prefix, this.clock.now());
    const expiresAt = now + this.config.clients.apiKeyCacheTtlMs;
    if (!row) return { principal: null, keyId: '', keyHash: NO_KEY_HASH, expiresAt };
    return {
      principal: {
        clientId: row.client_id,
        clientName: row.name,
        keyId: row.key_id,
        scopes: row.scopes,
        maxCheckAttempts: row.max_check_attempts,
        requestsPerMinute: row.requests_per_minute,
        countries: row.countries,
        numberTypes: row.number_types,
        voiceContract: row.voice_contract,
        pumping: row.pumping,
        webhookUrl: row.webhook_url,
        testNumbers: row.has_test_numbers && (!this.config.isProduction || row.test_numbers_in_production === true),
      },
      keyId: row.key_id,
      keyHash: row.key_hash,
      expiresAt,
    };
  }

  private remember(prefix: string, entry: CachedKey): void {
    if (this.config.clients.apiKeyCacheTtlMs <= 0) return;
    this.cache.delete(prefix);
    this.cache.set(prefix, entry);
    if (this.cache.size > ClientsService.CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value as string);
  }

  async createClient(input: CreateClientInput, fixedKey?: GeneratedKey, by: ActingAs = SYSTEM): Promise<CreatedClientView> {
    const taken = () => new ProblemException(409, 'client_name_taken', `A client named "${input.name}" already exists.`);
    const webhookUrl = input.webhookUrl ? this.destinations.assertAllowed('webhookUrl', input.webhookUrl) : null;
    return this.db.transaction(async (m) => {
      const existing = await this.repo.findClient(m, { name: input.name });
      if (existing) throw taken();
      const client = this.repo.newClient(m, {
        id: newId('cli'),
        name: input.name,
        scopes: [...new Set(input.scopes)],
        webhookUrl,
        maxCheckAttempts: input.maxCheckAttempts ?? null,
        requestsPerMinute: null,
        countries: null,
        numberTypes: null,
        voiceContract: null,
        pumping: null,
        testNumbersInProduction: null,
        webhookSecret: newWebhookSecret(),
        previousWebhookSecret: null,
        previousWebhookSecretUntil: null,
        webhookDisabledAt: null,
        createdAt: this.clock.now(),
        disabledAt: null,
      });
      // Two creations of one name at once: the unique index decides, the loser gets the same 409.
      await this.repo.insertClient(m, client, taken);
      await this.audit.record(m, {
        type: 'client.created',
        actor: by.actor,
        ip: by.ip,
        clientId: client.id,
        // the webhook URL's host only: a URL may carry a token in its path or query
        data: { name: client.name, scopes: client.scopes, webhookHost: client.webhookUrl ? new URL(client.webhookUrl).host : null },
      });
      const key = await this.insertKey(m, client.id, fixedKey ?? generateApiKey(), by);
      return Object.assign(toClientView(client, [toKeyView(key.row)]), { webhookSecret: client.webhookSecret, apiKey: key.created });
    });
  }

  async listClients(): Promise<ApiClientView[]> {
    const { clients, keys } = await this.repo.listClientsWithKeys();
    return clients.map((c) => toClientView(c, keys.filter((k) => k.clientId === c.id).map(toKeyView)));
  }

  async getClient(id: string): Promise<ApiClientView> {
    const client = await this.repo.findClient(this.db.manager, { id });
    if (!client) throw Problems.notFound(`No client ${id}.`);
    const keys = await this.repo.keysOf(id);
    return toClientView(client, keys.map(toKeyView));
  }

  async findByName(name: string): Promise<ApiClientView | undefined> {
    const client = await this.repo.findClient(this.db.manager, { name });
    return client ? this.getClient(client.id) : undefined;
  }

  async createKey(clientId: string, fixedKey?: GeneratedKey, by: ActingAs = SYSTEM): Promise<CreatedKeyView> {
    return this.db.transaction(async (m) => {
      const client = await this.repo.findClient(m, { id: clientId });
      if (!client) throw Problems.notFound(`No client ${clientId}.`);
      return (await this.insertKey(m, clientId, fixedKey ?? generateApiKey(), by)).created;
    });
  }

  async revokeKey(clientId: string, keyId: string, by: ActingAs = SYSTEM): Promise<ApiKeyView> {
    const key = await this.db.transaction(async (m) => {
      // Locked, so that two concurrent revokes record one api_key.revoked event.
      const row = await this.repo.lockKey(m, clientId, keyId);
      if (!row) throw Problems.notFound(`No key ${keyId} for client ${clientId}.`);
      if (!row.revokedAt) {
        row.revokedAt = this.clock.now();
        await this.repo.markRevoked(m, row.id, row.revokedAt);
        await this.audit.record(m, {
          type: 'api_key.revoked',
          actor: by.actor,
          ip: by.ip,
          clientId,
          data: { keyId: row.id, prefix: row.prefix },
        });
      }
      return row;
    });
    this.forget(key.prefix);
    return toKeyView(key);
  }

  /** The client's effective policy: its own values, the service's configuration for the rest. */
  async getPolicy(clientId: string): Promise<ClientPolicyView> {
    const client = await this.repo.findClient(this.db.manager, { id: clientId });
    if (!client) throw Problems.notFound(`No client ${clientId}.`);
    return this.policyView(client);
  }

  /**
   * Sets the fields given (null: back to the service default; left out: unchanged), and records
   * `client.policy_updated` with the stored values before and after, in the same transaction. A change takes
   * effect at once on this instance and within API_KEY_CACHE_TTL_SECONDS on the others (the principal cache).
   */
  async updatePolicy(clientId: string, changes: UpdateClientPolicyDto, by: ActingAs): Promise<ClientPolicyView> {
    if (changes.voiceContract?.method === 'ivr_inbound' && !this.config.risk.voiceCheck.inboundNumber) {
      throw Problems.validation([{ field: 'voiceContract.method', message: 'ivr_inbound needs RISK_INBOUND_CHECK_NUMBER, the number people call; it is not set' }]);
    }
    const after = await this.db.transaction(async (m) => {
      const client = await this.repo.lockClient(m, clientId);
      if (!client) throw Problems.notFound(`No client ${clientId}.`);
      const before: StoredClientPolicy = {
        maxCheckAttempts: client.maxCheckAttempts,
        requestsPerMinute: client.requestsPerMinute,
        countries: client.countries,
        numberTypes: client.numberTypes,
        voiceContract: client.voiceContract,
        pumping: client.pumping,
        testNumbersInProduction: client.testNumbersInProduction,
      };
      const next: StoredClientPolicy = Object.assign({}, before, storedChanges(changes));
      // lists and objects compare by value: setting what is already set changes nothing and records nothing
      const changed = CLIENT_POLICY_FIELDS.filter((field) => JSON.stringify(next[field]) !== JSON.stringify(before[field]));
      if (changed.length) {
        await this.repo.updatePolicy(m, clientId, next);
        await this.audit.record(m, { type: 'client.policy_updated', actor: by.actor, ip: by.ip, clientId, data: { changed, before, after: next } });
      }
      return next;
    });
    this.forgetClient(clientId);
    return this.policyView(after);
  }

  private policyView(stored: StoredClientPolicy): ClientPolicyView {
    const defaults = this.config.clients.policyDefaults;
    return {
      maxCheckAttempts: stored.maxCheckAttempts ?? defaults.maxCheckAttempts,
      requestsPerMinute: stored.requestsPerMinute ?? defaults.requestsPerMinute,
      countries: stored.countries ?? defaults.countries,
      numberTypes: { sms: stored.numberTypes?.sms ?? defaults.numberTypes.sms, voice: stored.numberTypes?.voice ?? defaults.numberTypes.voice },
      voiceContract: effectiveVoiceContract(stored.voiceContract, defaults.voiceContract),
      pumping: stored.pumping ?? defaults.pumping,
      testNumbersInProduction: stored.testNumbersInProduction ?? false,
      defaults: CLIENT_POLICY_FIELDS.filter((field) => stored[field] === null),
    };
  }

  /** Drops the cached principals of a client's keys, so that this instance applies its new policy (or test numbers) at once. */
  forgetClient(clientId: string): void {
    for (const [prefix, entry] of this.cache) if (entry.principal?.clientId === clientId) this.cache.delete(prefix);
    // a read in flight may be of one of its keys (whose client is known only once it is back): read them all again
    this.loading.clear();
  }

  /**
   * A new webhook signing secret (shown once). The previous one keeps signing beside it for
   * WEBHOOK_SECRET_ROTATION_OVERLAP_HOURS, so receivers can switch without losing a webhook. Audited, without secrets.
   */
  async rotateWebhookSecret(clientId: string, by: ActingAs): Promise<RotatedWebhookSecretView> {
    return this.db.transaction(async (m) => {
      const client = await this.repo.lockClient(m, clientId);
      if (!client) throw Problems.notFound(`No client ${clientId}.`);
      const now = this.clock.now();
      const until = new Date(now.getTime() + this.config.clients.webhookSecretOverlapMs);
      const secret = newWebhookSecret();
      await this.repo.rotateWebhookSecret(m, clientId, secret, until);
      await this.audit.record(m, { type: 'client.webhook_secret_rotated', actor: by.actor, ip: by.ip, clientId, data: { overlapEndsAt: until.toISOString() } });
      return { webhookSecret: secret, previousSecretValidUntil: until.toISOString() };
    });
  }

  /** Sends webhooks to the client's URL again after it answered 410 Gone. Audited. */
  async enableWebhookEndpoint(clientId: string, by: ActingAs): Promise<ApiClientView> {
    await this.db.transaction(async (m) => {
      const client = await this.repo.lockClient(m, clientId);
      if (!client) throw Problems.notFound(`No client ${clientId}.`);
      if (!client.webhookDisabledAt) return;
      await this.repo.enableEndpoint(m, clientId);
      await this.audit.record(m, { type: 'client.webhook_enabled', actor: by.actor, ip: by.ip, clientId, data: { disabledAt: client.webhookDisabledAt.toISOString() } });
    });
    return this.getClient(clientId);
  }

  /** Whether a key with this exact value exists and is active (used for DEV_API_KEY). */
  async hasActiveKey(key: GeneratedKey): Promise<boolean> {
    const row = await this.repo.keyByPrefix(key.prefix);
    return !!row && !row.revokedAt && keyMatches(key.key, row.keyHash);
  }

  private async insertKey(m: EntityManager, clientId: string, key: GeneratedKey, by: ActingAs) {
    const row = await this.repo.insertKey(m, {
      id: newId('key'),
      clientId,
      prefix: key.prefix,
      keyHash: key.hash,
      createdAt: this.clock.now(),
      lastUsedAt: null,
      revokedAt: null,
    });
    await this.audit.record(m, { type: 'api_key.created', actor: by.actor, ip: by.ip, clientId, data: { keyId: row.id, prefix: row.prefix } });
    this.forget(row.prefix); // an absence cached (or being read) for this prefix no longer holds
    this.logger.log({ clientId, keyId: row.id, prefix: row.prefix }, 'API key created');
    const created: CreatedKeyView = Object.assign(toKeyView(row), { key: key.key });
    return { row, created };
  }
}

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
function newWebhookSecret(): string {
  return 'whsec_' + randomBytes(32).toString('base64');
}

/** The fields a PUT names, normalized as stored: countries upper-cased and without repeats, types without repeats. */
function storedChanges(changes: UpdateClientPolicyDto): Partial<StoredClientPolicy> {
  const out: Partial<StoredClientPolicy> = {};
  if (changes.maxCheckAttempts !== undefined) out.maxCheckAttempts = changes.maxCheckAttempts;
  if (changes.requestsPerMinute !== undefined) out.requestsPerMinute = changes.requestsPerMinute;
  if (changes.pumping !== undefined) out.pumping = changes.pumping;
  if (changes.testNumbersInProduction !== undefined) out.testNumbersInProduction = changes.testNumbersInProduction;
  if (changes.countries !== undefined) out.countries = changes.countries === null ? null : [...new Set(changes.countries.map((c) => c.toUpperCase()))];
  if (changes.numberTypes !== undefined) {
    const given = changes.numberTypes;
    out.numberTypes =
      given === null
        ? null
        : Object.assign({}, given.sms !== undefined ? { sms: [...new Set(given.sms)] } : {}, given.voice !== undefined ? { voice: [...new Set(given.voice)] } : {});
  }
  if (changes.voiceContract !== undefined) {
    const given = changes.voiceContract;
    out.voiceContract =
      given === null
        ? null
        : Object.assign(
            {},
            given.default !== undefined ? { default: given.default } : {},
            given.byPurpose !== undefined ? { byPurpose: { ...given.byPurpose } } : {},
            given.onUnknown !== undefined ? { onUnknown: given.onUnknown } : {},
            given.method !== undefined ? { method: given.method } : {},
          );
  }
  return out;
}

function toKeyView(k: ApiKey): ApiKeyView {
  return {
    id: k.id,
    prefix: k.prefix,
    createdAt: k.createdAt.toISOString(),
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
  };
}

function toClientView(c: ApiClient, keys: ApiKeyView[]): ApiClientView {
  return {
    id: c.id,
    name: c.name,
    scopes: c.scopes,
    // URLs stored before credentials were refused in them are shown without those credentials
    webhookUrl: c.webhookUrl === null ? null : withoutCredentials(c.webhookUrl),
    maxCheckAttempts: c.maxCheckAttempts,
    requestsPerMinute: c.requestsPerMinute,
    webhookDisabledAt: c.webhookDisabledAt?.toISOString() ?? null,
    countries: c.countries,
    numberTypes: c.numberTypes,
    voiceContract: c.voiceContract,
    pumping: c.pumping,
    createdAt: c.createdAt.toISOString(),
    keys,
  };
}

function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = '***';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url.includes('@') ? '(hidden: may hold credentials)' : url;
  }
}
