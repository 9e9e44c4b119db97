// BENCH_SEED=N npm run bench: seeds N finished verifications into a database by bulk SQL (generate_series, in
// chunks of 100,000, one transaction each), as if they had gone through the service over the 30 days before
// the run: per verification one row each of verifications (approved), phone_sends, outbox ('done', payload
// gone), outbox_attempts, idempotency_keys and risk_number_accounts, four audit events (verification.created,
// message.queued, message.sent, verification.approved, with data shaped as the service writes it), and the
// risk counters aggregated per number prefix and country (risk_unit_counts per 10 minutes, risk_unit_days per
// day; the per-hour split of a day is not seeded). Numbers are +8180 plus 8 digits, one per verification,
// apart from the bench's own (+81901…).
// The audit events are inserted unchained (their seq from the column default, as business transactions
// leave them) and then chained by the service's own AuditSequencer (dist/src/audit), so the integrity check
// passes over the seeded trail as over a real one. phone_hash is SHA-256 of a fixed prefix and the number
// (32 bytes, as the real HMAC): it is stored and chained like any other, only filtering by number in the
// audit list would not find the seeded events.
'use strict';
require('reflect-metadata');
const path = require('node:path');
const { Client } = require('pg');

const CHUNK = 100_000;
const DAY_MS = 86_400_000;

async function seed({ url, count, clientId, log = () => undefined }) {
  const c = new Client({ connectionString: url });
  await c.connect();
  const end = Date.now() - 60_000;
  const start = end - 30 * DAY_MS;
  const timings = {};
  const t = (name, ms) => (timings[name] = (timings[name] || 0) + ms);
  // the verification i: created at start + i * span / count, approved 20 s later
  const at = (expr) => `to_timestamp((${start}::bigint + (${expr}) * ${Math.floor((end - start) / Math.max(1, count))}::bigint) / 1000.0)`;
  for (let from = 0; from < count; from += CHUNK) {
    const to = Math.min(count, from + CHUNK);
    const s0 = Date.now();
    await c.query('BEGIN');
    await c.query(`CREATE TEMP TABLE seed_v ON COMMIT DROP AS
      SELECT i, 'vrf_SEED' || lpad(i::text, 22, '0') AS id, 'msg_SEED' || lpad(i::text, 22, '0') AS mid,
             '+8180' || lpad(i::text, 8, '0') AS phone, ${at('i')} AS created
        FROM generate_series(${from}::bigint, ${to - 1}::bigint) AS i`);
    await c.query(
      `INSERT INTO verifications (id, client_id, phone_e164, country, channel, purpose, locale, status, code_hmac, code_key_id, code_length, ttl_seconds,
                                  attempts, max_attempts, sends, max_sends, expires_at, resend_available_at, transaction, reference, callback_url, risk,
                                  created_at, updated_at, approved_at)
       SELECT id, $1, phone, 'JP', 'sms', 'login', 'ja', 'approved', sha256(convert_to(id, 'UTF8')), 'k1', 6, 300, 0, 5, 1, 5,
              created + interval '300 s', created + interval '30 s', NULL, NULL, NULL, '{"rules": [], "reasons": [], "decision": "allow"}'::jsonb,
              created, created + interval '20 s', created + interval '20 s'
         FROM seed_v ORDER BY i`,
      [clientId],
    );
    await c.query(`INSERT INTO phone_sends (phone_e164, sent_at, verification_id) SELECT phone, created, id FROM seed_v ORDER BY i`);
    await c.query(
      `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, attempts, max_attempts, next_attempt_at, locked_until, last_error,
                           delivery_status, provider, provider_message_id, segments, created_at, updated_at)
       SELECT mid, 'sms', id, $1, NULL, 'done', 1, 4, created, NULL, NULL, 'sent', 'http', 'fake-seed-' || i, 1, created, created + interval '50 ms'
         FROM seed_v ORDER BY i`,
      [clientId],
    );
    await c.query(
      `INSERT INTO outbox_attempts (outbox_id, attempt, leg, provider, ok, outcome, status_code, error, duration_ms, attempted_at)
       SELECT mid, 1, 0, 'http', true, 'accepted', NULL, NULL, 12, created + interval '50 ms' FROM seed_v ORDER BY i`,
    );
    await c.query(
      `INSERT INTO idempotency_keys (client_id, key, request_hash, response_status, response_body, created_at)
       SELECT $1, 'seed-' || i, sha256(convert_to('req' || i, 'UTF8')), 201,
              json_build_object('id', id, 'status', 'pending', 'phoneNumber', '+81*******' || right(phone, 4), 'channel', 'sms', 'purpose', 'login',
                'locale', 'ja', 'expiresAt', created + interval '300 s', 'resendAvailableAt', created + interval '30 s', 'attemptsRemaining', 5,
                'sendsRemaining', 4, 'risk', json_build_object('decision', 'allow', 'reasons', '[]'::json),
                'delivery', json_build_object('status', 'queued', 'provider', NULL, 'attempts', 1, 'updatedAt', created),
                'transaction', NULL, 'reference', NULL, 'createdAt', created, 'approvedAt', NULL),
              created
         FROM seed_v ORDER BY i`,
      [clientId],
    );
    await c.query(
      `INSERT INTO risk_number_accounts (phone_e164, client_id, account_ref_hash, verified_at)
       SELECT phone, $1, ''::bytea, created + interval '20 s' FROM seed_v ORDER BY i ON CONFLICT DO NOTHING`,
      [clientId],
    );
    const s1 = Date.now();
    t('business rows', s1 - s0);
    // four events per verification, in time order (seq follows insertion order)
    await c.query(
      `INSERT INTO audit_events (id, type, occurred_at, client_id, verification_id, phone_hash, phone_masked, actor_type, actor_id, ip, data)
       SELECT 'evt_SEED' || lpad((v.i * 4 + e.n)::text, 22, '0'), e.type, v.created + e.delay, $1, v.id,
              sha256(convert_to('seed-phone:' || v.phone, 'UTF8')), '+81*******' || right(v.phone, 4),
              CASE WHEN e.n = 2 THEN 'system' ELSE 'client' END, CASE WHEN e.n = 2 THEN 'dispatcher' ELSE 'key_SEED' END,
              CASE WHEN e.n IN (0, 3) THEN '10.0.0.1' END,
              CASE e.n
                WHEN 0 THEN jsonb_build_object('risk', jsonb_build_object('rules', '[]'::jsonb, 'reasons', '[]'::jsonb, 'decision', 'allow'), 'locale', 'ja',
                            'status', 'pending', 'channel', 'sms', 'purpose', 'login', 'codeKeyId', 'k1', 'reference', NULL, 'codeLength', 6,
                            'ttlSeconds', 300, 'transaction', NULL, 'idempotencyKey', 'seed-' || v.i)
                WHEN 1 THEN jsonb_build_object('send', 1, 'channel', 'sms', 'outboxId', v.mid, 'segments', 1)
                WHEN 2 THEN jsonb_build_object('route', jsonb_build_array(jsonb_build_object('outcome', 'accepted', 'provider', 'http')), 'attempt', 1,
                            'channel', 'sms', 'outboxId', v.mid, 'provider', 'http', 'segments', 1, 'providerMessageId', 'fake-seed-' || v.i)
                ELSE jsonb_build_object('attempts', 1)
              END
         FROM seed_v v
        CROSS JOIN (VALUES (0, 'verification.created', interval '0 s'), (1, 'message.queued', interval '0 s'),
                           (2, 'message.sent', interval '50 ms'), (3, 'verification.approved', interval '20 s')) AS e(n, type, delay)
        ORDER BY v.i, e.n`,
      [clientId],
    );
    await c.query('COMMIT');
    t('audit events', Date.now() - s1);
    log(`seed: ${to.toLocaleString('en-US')} / ${count.toLocaleString('en-US')} verifications`);
  }
  // the risk counters, aggregated (they are upserted per start and approval in the service)
  let s = Date.now();
  await c.query(`DELETE FROM risk_unit_counts WHERE unit LIKE '8180%'`);
  await c.query(
    `INSERT INTO risk_unit_counts (kind, unit, bucket, started, verified)
     SELECT k, u, b, count(*), count(*) FROM (
       SELECT 'prefix' AS k, substr(phone_e164, 2, 8) AS u, to_timestamp(floor(extract(epoch FROM created_at) / 600) * 600) AS b
         FROM verifications WHERE id LIKE 'vrf_SEED%'
       UNION ALL
       SELECT 'country', 'JP', to_timestamp(floor(extract(epoch FROM created_at) / 600) * 600) FROM verifications WHERE id LIKE 'vrf_SEED%') x
     GROUP BY k, u, b
     ON CONFLICT (kind, unit, bucket) DO UPDATE SET started = risk_unit_counts.started + EXCLUDED.started, verified = risk_unit_counts.verified + EXCLUDED.verified`,
  );
  await c.query(
    `INSERT INTO risk_unit_days (kind, unit, day, verified, verified_hours)
     SELECT k, u, d, count(*), array_fill(0, ARRAY[24]) FROM (
       SELECT 'prefix' AS k, substr(phone_e164, 2, 8) AS u, (created_at AT TIME ZONE 'UTC')::date AS d FROM verifications WHERE id LIKE 'vrf_SEED%'
       UNION ALL
       SELECT 'country', 'JP', (created_at AT TIME ZONE 'UTC')::date FROM verifications WHERE id LIKE 'vrf_SEED%') x
     GROUP BY k, u, d
     ON CONFLICT (kind, unit, day) DO UPDATE SET verified = risk_unit_days.verified + EXCLUDED.verified`,
  );
  t('risk counters', Date.now() - s);
  await c.end();

  // chain the seeded events with the service's sequencer
  s = Date.now();
  const dist = (p) => require(path.join(__dirname, '..', 'dist', 'src', p));
  const { DataSource } = require('typeorm');
  const { dataSourceOptions } = dist('database/data-source-options.js');
  const { AppConfig } = dist('config/app-config.js');
  const { Clock } = dist('common/clock.js');
  const { AuditSequencer } = dist('audit/audit-sequencer.service.js');
  const ds = new DataSource(dataSourceOptions(url, 2));
  await ds.initialize();
  const sequencer = new AuditSequencer(ds, AppConfig.fromEnv({ NODE_ENV: 'development', AUDIT_PHONE_HASH_KEY: 'ab'.repeat(32) }), new Clock());
  const chained = await sequencer.drain(6 * 3_600_000);
  t('chaining', Date.now() - s);
  s = Date.now();
  await ds.query('VACUUM ANALYZE');
  await ds.destroy();
  t('vacuum analyze', Date.now() - s);
  const detail = Object.entries(timings)
    .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(0)} s`)
    .join(', ');
  return { chained, detail: `${detail}; ${chained.toLocaleString('en-US')} events chained` };
}

module.exports = { seed };
