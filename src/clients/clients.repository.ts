import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { NumberTypesPolicy, VoiceContractPolicy } from '../common/auth';
import type { Queryable } from '../common/tx';
import { WebhookTarget, WebhookTargets } from '../common/webhook-targets';
import { ApiClient } from './entities/api-client.entity';
import { ApiKey } from './entities/api-key.entity';

export interface ActiveKeyRow {
  key_id: string;
  key_hash: Buffer;
  client_id: string;
  name: string;
  scopes: string[];
  max_check_attempts: number | null;
  requests_per_minute: number | null;
  countries: string[] | null;
  number_types: NumberTypesPolicy | null;
  voice_contract: VoiceContractPolicy | null;
  pumping: 'enforce' | 'record_only' | null;
  webhook_url: string | null;
  has_test_numbers: boolean;
  test_numbers_in_production: boolean | null;
}

/** A client's stored policy: null fields follow the service's configuration. */
export interface StoredClientPolicy {
  maxCheckAttempts: number | null;
  requestsPerMinute: number | null;
  countries: string[] | null;
  numberTypes: NumberTypesPolicy | null;
  voiceContract: VoiceContractPolicy | null;
  pumping: 'enforce' | 'record_only' | null;
  testNumbersInProduction: boolean | null;
}

/** All access to `api_clients` and `api_keys`. */
@Injectable()
export class ClientsRepository implements WebhookTargets {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** The active key with this prefix and its client; stamps last_used_at (at most once a minute) in the same statement. */
  async findActiveKey(prefix: string, now: Date): Promise<ActiveKeyRow | undefined> {
    const rows: ActiveKeyRow[] = await this.db.query(
      `WITH k AS (
         SELECT k.id, k.key_hash, c.id AS client_id, c.name, c.scopes, c.max_check_attempts, c.requests_per_minute, c.countries, c.number_types, c.voice_contract, c.pumping, c.webhook_url,
                c.test_numbers_in_production, EXISTS (SELECT 1 FROM client_test_numbers t WHERE t.client_id = c.id) AS has_test_numbers
           FROM api_keys k JOIN api_clients c ON c.id = k.client_id
          WHERE k.prefix = $1 AND k.revoked_at IS NULL AND c.disabled_at IS NULL
       ), touched AS (
         UPDATE api_keys SET last_used_at = $2::timestamptz
          WHERE id IN (SELECT id FROM k) AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')
       )
       SELECT id AS key_id, key_hash, client_id, name, scopes, max_check_attempts, requests_per_minute, countries, number_types, voice_contract, pumping, webhook_url,
              has_test_numbers, test_numbers_in_production FROM k`,
      [prefix, now],
    );
    return rows[0];
  }

  async webhookTargetOf(q: Queryable, clientId: string, now: Date): Promise<WebhookTarget | undefined> {
    const [row]: Array<{ webhook_url: string | null; webhook_secret: string; previous: string | null; webhook_disabled_at: Date | null }> = await q.query(
      `SELECT webhook_url, webhook_secret, webhook_disabled_at,
              CASE WHEN previous_webhook_secret_until > $2::timestamptz THEN previous_webhook_secret END AS previous
         FROM api_clients WHERE id = $1`,
      [clientId, now],
    );
    if (!row) return undefined;
    return { url: row.webhook_url, secrets: row.previous ? [row.webhook_secret, row.previous] : [row.webhook_secret], disabledAt: row.webhook_disabled_at };
  }

  async disableEndpoint(q: Queryable, clientId: string, url: string, now: Date): Promise<boolean> {
    const rows: unknown[] = await q.query(
      `UPDATE api_clients SET webhook_disabled_at = $3 WHERE id = $1 AND webhook_url = $2 AND webhook_disabled_at IS NULL RETURNING id`,
      [clientId, url, now],
    );
    return rows.length > 0;
  }

  /** A new current secret; the old one keeps signing until `until`. */
  async rotateWebhookSecret(m: EntityManager, clientId: string, secret: string, until: Date): Promise<void> {
    await m.query(
      `UPDATE api_clients SET previous_webhook_secret = webhook_secret, previous_webhook_secret_until = $3, webhook_secret = $2 WHERE id = $1`,
      [clientId, secret, until],
    );
  }

  async enableEndpoint(m: EntityManager, clientId: string): Promise<void> {
    await m.query(`UPDATE api_clients SET webhook_disabled_at = NULL WHERE id = $1`, [clientId]);
  }

  findClient(m: EntityManager, where: { id: string } | { name: string }): Promise<ApiClient | null> {
    return m.findOne(ApiClient, { where });
  }

  newClient(m: EntityManager, values: ApiClient): ApiClient {
    return m.create(ApiClient, values);
  }

  /** Inserts the client; a name taken (also by a concurrent insert: the unique index decides) calls `onNameTaken`. */
  async insertClient(m: EntityManager, client: ApiClient, onNameTaken: () => Error): Promise<void> {
    await m.insert(ApiClient, client).catch((err: unknown) => {
      throw (err as { code?: string }).code === '23505' ? onNameTaken() : err;
    });
  }

  /** The client, row-locked until the transaction ends (so that concurrent policy changes each see the one before). */
  lockClient(m: EntityManager, id: string): Promise<ApiClient | null> {
    return m.findOne(ApiClient, { where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async updatePolicy(m: EntityManager, id: string, policy: StoredClientPolicy): Promise<void> {
    await m.update(ApiClient, { id }, {
      maxCheckAttempts: policy.maxCheckAttempts,
      requestsPerMinute: policy.requestsPerMinute,
      countries: policy.countries,
      numberTypes: policy.numberTypes,
      voiceContract: policy.voiceContract,
      pumping: policy.pumping,
      testNumbersInProduction: policy.testNumbersInProduction,
    });
  }

  async insertKey(m: EntityManager, values: ApiKey): Promise<ApiKey> {
    const row = m.create(ApiKey, values);
    await m.insert(ApiKey, row);
    return row;
  }

  async listClientsWithKeys(): Promise<{ clients: ApiClient[]; keys: ApiKey[] }> {
    const clients = await this.db.getRepository(ApiClient).find({ order: { createdAt: 'ASC', id: 'ASC' } });
    const keys = await this.db.getRepository(ApiKey).find({ order: { createdAt: 'ASC', id: 'ASC' } });
    return { clients, keys };
  }

  keysOf(clientId: string): Promise<ApiKey[]> {
    return this.db.getRepository(ApiKey).find({ where: { clientId }, order: { createdAt: 'ASC' } });
  }

  keyByPrefix(prefix: string): Promise<ApiKey | null> {
    return this.db.getRepository(ApiKey).findOne({ where: { prefix } });
  }

  /** The key, row-locked until the transaction ends (so that two concurrent revokes record one event). */
  lockKey(m: EntityManager, clientId: string, keyId: string): Promise<ApiKey | null> {
    return m.findOne(ApiKey, { where: { id: keyId, clientId }, lock: { mode: 'pessimistic_write' } });
  }

  async markRevoked(m: EntityManager, keyId: string, at: Date): Promise<void> {
    await m.update(ApiKey, { id: keyId }, { revokedAt: at });
  }
}
