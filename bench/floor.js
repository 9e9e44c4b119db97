// The fair floor: the least a program can do per request to do the service's work, on node:http + pg (no
// framework, no validation library, no auth, no ORM). It serves the service's two hot routes with the same
// paths and bodies, runs the service's SQL (the statements below were read from `log_statement = all` on a
// scratch database while one start, one right check and one wrong check went through the built service,
// and are copied from it), sends the code to the provider after commit and records the outcome, and chains
// the audit trail in the background as the service's sequencer does. So service/floor measures only what
// the service adds: NestJS, validation, auth, logging, risk rule evaluation, views.
//
// POST /v1/verifications {phoneNumber, purpose} (Idempotency-Key header) -> 201 {id, status, ...}
//   BEGIN
//     INSERT idempotency_keys ... ON CONFLICT DO UPDATE (only an expired claim is taken over) RETURNING
//       (a repeat: no row back, then SELECT its first answer)
//     SELECT pg_advisory_xact_lock(the number)                    -- screening's per-number lock, its own statement
//       (with plan_cache_mode = force_generic_plan for the rest of the transaction; every statement is named)
//     one SELECT (screening's read after the lock): blocklist (number and its prefixes), phone_sends /
//       phone_check_failures of the number (phone limits), risk units (risk_suspensions, risk_unit_counts,
//       risk_unit_days) and risk_number_accounts
//     UPDATE verifications ... (supersede the number's open verification, FOR UPDATE)
//     one combined statement: INSERT verifications, phone_sends, outbox ('sending', encrypted payload),
//       UPDATE idempotency_keys (the stored answer), INSERT audit_events ×2 (verification.created,
//       message.queued), INSERT risk_unit_counts ... ON CONFLICT DO UPDATE (started + 1; prefix and country in one of 8 shard rows,
//       in (kind, unit) order as the service takes them)
//   COMMIT
//   then the HTTP POST to the provider (the `http` provider's contract: {to, text, reference}, bearer token,
//   keep-alive agent), and one combined statement: INSERT outbox_attempts, UPDATE outbox 'done',
//   INSERT audit_events (message.sent). The answer is sent before the provider call, as the service does.
// POST /v1/verifications/:id/check {code} -> 200 {id, status, valid, attemptsRemaining} (409 when not pending)
//   outside the transaction: SELECT <columns> FROM verifications WHERE id AND client_id
//   BEGIN
//     SELECT pg_advisory_xact_lock(the number); SELECT phone_check_failures of the number
//     UPDATE verifications ... RETURNING <columns> (the HMAC is compared in the process, as the service does)
//     right code: one combined statement: INSERT audit_events (verification.approved), risk_approvals (folded
//       into risk_unit_counts and risk_unit_days every second, below), risk_number_accounts;
//     wrong code: INSERT audit_events (verification.check_failed) + INSERT phone_check_failures
//   COMMIT
// The approvals' fold: every second (RISK_APPROVALS_FOLD_INTERVAL_MS), the service's own statements (foldApprovalsSql,
// then collapseShardsSql with collapseShardsParams: the shard rows of the buckets closed a minute ago summed into one row each).
// The audit chain: every 200 ms (the service's AUDIT_SEQUENCER_INTERVAL_MS default), in one transaction:
//   pg_try_advisory_xact_lock, SELECT audit_chain_head FOR UPDATE, SELECT the events after it (1,000 at most, the
//   service's AUDIT_SEQUENCER_BATCH_SIZE default; after a full batch the next one at once),
//   link them with the service's own chain function (dist/src/audit/audit-chain.js, pure code; in slices with a turn
//   of the event loop between them, as the service does), INSERT
//   audit_chain via unnest, UPDATE audit_chain_head.
// Not done here, as the service does it rarely or not in SQL: the API key lookup (cached 5 s per instance,
// last_used_at written at most once a minute), rule evaluation on the risk figures read, the outbox poller
// (it finds nothing: every message is sent inline).
// The work is createFloor(env) (exported): bench/nest-floor serves the same two routes with it behind a minimal
// NestJS app, to tell what the framework alone costs.
'use strict';
const http = require('node:http');
const { setImmediate } = require('node:timers');
const path = require('node:path');
const { createHmac, createCipheriv, randomBytes, randomInt, timingSafeEqual } = require('node:crypto');
const { Pool } = require('pg');
const { linkEventsInSlices } = require(path.join(__dirname, '..', 'dist', 'src', 'audit', 'audit-chain.js'));
const { INSERT_LINKS_SQL, insertLinksParams } = require(path.join(__dirname, '..', 'dist', 'src', 'audit', 'audit-rows.js'));
const { foldApprovalsSql, collapseShardsSql, collapseShardsParams } = require(path.join(__dirname, '..', 'dist', 'src', 'risk', 'risk-signals.repository.js'));
// the columns the service reads a verification with (named, not *, so that its statements run prepared)
const { VERIFICATION_COLUMNS } = require(path.join(__dirname, '..', 'dist', 'src', 'issuance', 'verifications.repository.js'));
const { EnvSchema } = require(path.join(__dirname, '..', 'dist', 'src', 'config', 'env.schema.js'));

const AUDIT_COLS = 'INSERT INTO audit_events (id, type, occurred_at, client_id, verification_id, phone_hash, phone_masked, actor_type, actor_id, ip, data) VALUES';

// a day's verified codes hour by hour, its shard rows summed (24 sums of verified_hours[h])
const HOURS_SUMMED = Array.from({ length: 24 }, (_, h) => `sum(ds.verified_hours[${h + 1}])`).join(', ');
// The start's one read after the lock (RiskSignalsRepository.startState): the blocklist entries of the number and its
// prefixes, the number's sends and wrong codes, its units (risk_suspensions, risk_unit_counts, risk_unit_days) and
// its accounts (risk_number_accounts), the values bound in the service's order.
const START_READ = `SELECT (SELECT coalesce(json_agg(json_build_object('id', h.id, 'kind', h.kind, 'value', h.value) ORDER BY h.kind, length(h.value) DESC, h.id), '[]'::json)
             FROM (SELECT id, kind, value FROM blocklist
                    WHERE ((kind = 'number' AND value = $1) OR (kind = 'prefix' AND value = ANY($2::text[])))
                      AND (expires_at IS NULL OR expires_at > $3)
                    ORDER BY kind, length(value) DESC, id LIMIT 16) h) AS blocklist,
              ARRAY(SELECT sent_at FROM phone_sends WHERE phone_e164 = $4 AND sent_at > $5 ORDER BY sent_at DESC LIMIT $6) AS sends,
          ARRAY(SELECT failed_at FROM phone_check_failures WHERE phone_e164 = $4 AND failed_at > $7 ORDER BY failed_at DESC LIMIT $8) AS failures,
              (SELECT coalesce(json_agg(json_build_object(
                   'kind', u.kind, 'unit', u.unit, 'active', s.active, 'hour', c.hour, 's24', c.s24, 'v24', c.v24, 's1', c.s1, 'v1', c.v1,
                   'vall24', c.vall24, 'vall1', c.vall1, 'max_daily', d.max_daily, 'max_hourly', d.max_hourly) ORDER BY u.ord), '[]'::json)
            FROM unnest($13::text[], $14::text[]) WITH ORDINALITY AS u(kind, unit, ord)
            CROSS JOIN LATERAL (
              SELECT coalesce(json_agg(json_build_object('id', x.id, 'mode', x.mode) ORDER BY x.created_at)
                       FILTER (WHERE x.released_at IS NULL AND x.expires_at > $9), '[]'::json) AS active,
                     coalesce(max(greatest(
                       to_timestamp(floor(extract(epoch FROM coalesce(x.released_at, x.expires_at)) / 600) * 600),
                       to_timestamp(floor(extract(epoch FROM x.created_at) / 600) * 600 + 600)))
                       FILTER (WHERE coalesce(x.released_at, x.expires_at) <= $9), '-infinity') AS since
                FROM risk_suspensions x
               WHERE x.kind = u.kind AND x.unit = u.unit AND x.expires_at > $11
            ) s
            CROSS JOIN LATERAL (
              SELECT coalesce(json_agg(json_build_array((extract(epoch FROM r.bucket) * 1000)::bigint, r.started) ORDER BY r.bucket)
                       FILTER (WHERE r.bucket > $10), '[]'::json) AS hour,
                     coalesce(sum(r.started) FILTER (WHERE r.bucket >= s.since), 0)::int AS s24,
                     coalesce(sum(r.verified) FILTER (WHERE r.bucket >= s.since), 0)::int AS v24,
                     coalesce(sum(r.started) FILTER (WHERE r.bucket > $10 AND r.bucket >= s.since), 0)::int AS s1,
                     coalesce(sum(r.verified) FILTER (WHERE r.bucket > $10 AND r.bucket >= s.since), 0)::int AS v1,
                     coalesce(sum(r.verified), 0)::int AS vall24,
                     coalesce(sum(r.verified) FILTER (WHERE r.bucket > $10), 0)::int AS vall1
                FROM (SELECT b.bucket, sum(b.started) AS started, sum(b.verified) AS verified
                        FROM risk_unit_counts b
                       WHERE b.kind = u.kind AND b.unit = u.unit AND b.bucket > $11
                       GROUP BY b.bucket) r
            ) c
            CROSS JOIN LATERAL (
              SELECT coalesce(max(dd.verified), 0)::int AS max_daily, coalesce(max(dd.peak), 0)::int AS max_hourly
                FROM (SELECT sum(ds.verified) AS verified, greatest(${HOURS_SUMMED}) AS peak
                        FROM risk_unit_days ds
                       WHERE ds.kind = u.kind AND ds.unit = u.unit AND ds.day > $15::date
                       GROUP BY ds.day) dd
            ) d
         ) AS units,
         (SELECT json_build_object(
                   'accounts', count(DISTINCT n.client_id || ':' || encode(n.account_ref_hash, 'hex')) FILTER (WHERE n.account_ref_hash <> ''::bytea),
                   'clients', count(DISTINCT n.client_id),
                   'sameAccount', coalesce(bool_or(n.client_id = $12 AND n.account_ref_hash = $16::bytea), false),
                   'sameClient', coalesce(bool_or(n.client_id = $12), false))
            FROM risk_number_accounts n
           WHERE n.phone_e164 = $17 AND n.verified_at > $18
         ) AS accounts`;

const START_WRITE = `WITH w0 AS (INSERT INTO verifications (id, client_id, phone_e164, country, channel, purpose, locale, status, code_hmac, code_key_id, code_length,
                                          ttl_seconds, max_attempts, sends, max_sends, expires_at, resend_available_at, transaction, reference,
                                          callback_url, risk, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18::jsonb, $19, $20,
                       $21::jsonb, $22, $23)), w1 AS (INSERT INTO phone_sends (phone_e164, sent_at, verification_id) VALUES ($24, $25, $26)), w2 AS (INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, attempts, max_attempts, next_attempt_at, locked_until, segments, created_at, updated_at)
              VALUES ($28, $29, $30, $31, $32, 'sending', 1, $33, $27, $34, $35, $27, $27)), w3 AS (UPDATE idempotency_keys SET response_status = $36, response_body = $37 WHERE client_id = $38 AND key = $39), w4 AS (${AUDIT_COLS} ($40, $41, $42, $43, $44, $45, $46, $47, $48, $49, $50), ($51, $52, $53, $54, $55, $56, $57, $58, $59, $60, $61)) INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started)
              SELECT k, v, $62::timestamptz, s, 1 FROM unnest($63::text[], $64::text[], $65::smallint[]) AS x(k, v, s) ORDER BY k, v
              ON CONFLICT (kind, unit, bucket, shard) DO UPDATE SET started = risk_unit_counts.started + 1`;

const SENT_WRITE = `WITH w0 AS (INSERT INTO outbox_attempts (outbox_id, attempt, leg, provider, ok, outcome, status_code, error, duration_ms, attempted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)), w1 AS (UPDATE outbox SET status = 'done', payload = NULL, locked_until = NULL, last_error = NULL,
                     delivery_status = CASE WHEN delivery_status IN ('delivered', 'undelivered', 'failed') THEN delivery_status ELSE $11 END,
                     provider = $12, provider_message_id = COALESCE($13, provider_message_id), updated_at = $14
               WHERE id = $15 AND status = 'sending' AND attempts = $16) ${AUDIT_COLS} ($17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)`;

const CHECK_UPDATE = `UPDATE verifications
          SET status = CASE WHEN $3 THEN 'approved' WHEN attempts + 1 >= max_attempts THEN 'locked' ELSE 'pending' END,
              attempts = attempts + CASE WHEN $3 THEN 0 ELSE 1 END,
              approved_at = CASE WHEN $3 THEN $4::timestamptz END,
              updated_at = $4
        WHERE id = $1 AND (status IN ('pending')) IS TRUE AND expires_at > $4 AND code_hmac = $2
        RETURNING ${VERIFICATION_COLUMNS}`;

// The start's supersede of the number's open verification, and the check's read: texts made once, not per request.
const SUPERSEDE = `WITH prev AS MATERIALIZED (SELECT id, status FROM verifications WHERE phone_e164 = $2 AND client_id = $1 AND status IN ('screening', 'pending') FOR UPDATE)
         UPDATE verifications v SET status = 'canceled', updated_at = $3 FROM prev WHERE v.id = prev.id
         RETURNING ${VERIFICATION_COLUMNS.split(', ').map((c) => `v.${c}`).join(', ')}, prev.status AS previous_status`;
const CHECK_READ = `SELECT ${VERIFICATION_COLUMNS} FROM verifications WHERE id = $1 AND client_id = $2`;
/** A statement whose result is a * (src/common/sql.ts, STAR_RESULT): run unnamed, as the service runs it. */
const STAR_RESULT = /(?:SELECT|RETURNING|DISTINCT|,)\s+(?:\w+\.)?\*/i;
const APPROVED_WRITE = `WITH w0 AS (${AUDIT_COLS} ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)), w1 AS (INSERT INTO risk_approvals (verification_id, prefix, country, approved_at)
              VALUES ($12, $13, $14, $15) ON CONFLICT DO NOTHING) INSERT INTO risk_number_accounts (phone_e164, client_id, account_ref_hash, verified_at)
              SELECT $16, $17,
                     coalesce((SELECT e.account_ref_hash FROM risk_end_users e WHERE e.verification_id = $18), ''::bytea), $19::timestamptz
              ON CONFLICT (phone_e164, client_id, account_ref_hash) DO UPDATE SET verified_at = greatest(risk_number_accounts.verified_at, EXCLUDED.verified_at)`;

const FAILED_WRITE = `WITH w0 AS (${AUDIT_COLS} ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)) INSERT INTO phone_check_failures (phone_e164, failed_at, verification_id) VALUES ($12, $13, $14)`;

const bucket10 = (now) => new Date(Math.floor(now.getTime() / 600_000) * 600_000);
// the prefix and country rows in one of their 8 shard rows, chosen per transaction (as src/risk/risk-signals.repository.ts)
const units = (e164) => {
  const shard = Math.floor(Math.random() * 8);
  return [['prefix', 'country'], [e164.slice(1, 9), 'JP'], [shard, shard]];
};
const RISK = { decision: 'allow', reasons: [], rules: [] };

/**
 * The floor's work for one process, reusable by another server in it (bench/nest-floor: the same work behind a
 * minimal NestJS app): the pool, the two handlers (each resolves to {status, body}, the body JSON text) and the
 * background loops (the audit chain every 200 ms, the approvals' fold every second), started here. env: the
 * FLOOR_* variables. stopLoops() stops the loops; the caller closes its server, then ends the pool.
 */
function createFloor(env = process.env) {
  // Connections kept, as the service's pool keeps them (DATABASE_POOL_IDLE_TIMEOUT_SECONDS=0).
  const pool = new Pool({ connectionString: env.FLOOR_DATABASE_URL, max: Number(env.FLOOR_POOL_SIZE || 10), idleTimeoutMillis: 0 });
  // Every statement named, as the service's (src/common/sql.ts `named`): each connection parses it once and keeps its plan;
  // not those whose result is a *, which the service leaves unnamed. Decided once per text, as the service does: the
  // texts are constants, so the lookup hashes each only once (a regular expression over every text at every query
  // cost the floor 140 K instructions per start that the service does not spend).
  const names = new Map();
  pool.on('connect', (client) => {
    const query = client.query.bind(client);
    client.query = (text, values, ...rest) => {
      if (typeof text !== 'string' || !Array.isArray(values)) return query(text, values, ...rest);
      let name = names.get(text);
      if (name === undefined) {
        name = STAR_RESULT.test(text) ? null : `floor_${names.size + 1}`;
        names.set(text, name);
      }
      return name === null ? query(text, values, ...rest) : query({ name, text, values }, ...rest);
    };
  });
  const [KEY_ID, KEY_HEX] = (env.FLOOR_HMAC_KEYS || 'k1:' + 'ab'.repeat(32)).split(':');
  const CODE_KEY = Buffer.from(KEY_HEX, 'hex');
  const PHONE_KEY = Buffer.from(env.FLOOR_PHONE_KEY || 'cd'.repeat(32), 'hex');
  const PAYLOAD_KEY = randomBytes(32);
  const CLIENT_ID = env.FLOOR_CLIENT_ID;
  const ACTOR = 'key_FLOOR' + '0'.repeat(21); // as long as the service's key ids (`key_` and a ULID)
  const SMS_URL = new URL(env.FLOOR_SMS_URL);
  const PROVIDER_TOKEN = env.FLOOR_PROVIDER_TOKEN;
  const providerAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  let idCounter = 0;
  const newId = (p) => `${p}_${Date.now().toString(36).toUpperCase().padStart(10, '0')}${randomBytes(8).toString('hex').toUpperCase()}${(idCounter++ % 1000).toString().padStart(3, '0')}`.slice(0, 30);
  const codeHmac = (vid, code) => createHmac('sha256', CODE_KEY).update(`otp-v1\0${vid}\0${code}\0`).digest();
  const phoneHash = (e164) => createHmac('sha256', PHONE_KEY).update(e164).digest();
  const masked = (e164) => e164.slice(0, 3) + '*'.repeat(e164.length - 7) + e164.slice(-4);
  const minus = (now, ms) => new Date(now.getTime() - ms);
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;

  function encrypt(text) {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', PAYLOAD_KEY, iv);
    const body = Buffer.concat([c.update(text, 'utf8'), c.final()]);
    return Buffer.concat([Buffer.from([2]), iv, c.getAuthTag(), body]);
  }

  async function tx(fn) {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async function start(input, idemKey, ip) {
    const phone = input.phoneNumber;
    const purpose = input.purpose;
    const now = new Date();
    const requestHash = createHmac('sha256', CODE_KEY).update(JSON.stringify(input)).digest();
    const vid = newId('vrf');
    const mid = newId('msg');
    let code = '';
    for (let i = 0; i < 6; i++) code += randomInt(10);
    const ph = phoneHash(phone);
    const mask = masked(phone);
    const text = `【OTP Verify】認証コード ${code}\nログイン用・5分間有効。このコードは誰にも教えないでください。`;
    const expiresAt = new Date(now.getTime() + 300_000);
    const resendAt = new Date(now.getTime() + 30_000);
    const body = {
      id: vid, status: 'pending', phoneNumber: mask, channel: 'sms', purpose, locale: 'ja', expiresAt: expiresAt.toISOString(), resendAvailableAt: resendAt.toISOString(),
      attemptsRemaining: 20, sendsRemaining: 4, risk: { decision: 'allow', reasons: [] },
      delivery: { status: 'queued', provider: null, attempts: 1, updatedAt: now.toISOString() }, transaction: null, reference: null, createdAt: now.toISOString(), approvedAt: null,
    };
    const answer = JSON.stringify(body);
    const [kinds, values, shards] = units(phone);
    const out = await tx(async (c) => {
      if (idemKey) {
        const claimed = await c.query(
          `INSERT INTO idempotency_keys (client_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (client_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, response_status = NULL, response_body = NULL, created_at = EXCLUDED.created_at
             WHERE idempotency_keys.created_at < $5
           RETURNING key`,
          [CLIENT_ID, idemKey, requestHash, now, minus(now, DAY)],
        );
        if (!claimed.rows[0]) {
          // a repeat: the first answer (as the service, IdempotencyRepository.claim)
          const { rows } = await c.query(`SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND created_at >= $3`, [
            CLIENT_ID,
            idemKey,
            minus(now, DAY),
          ]);
          if (rows[0]?.response_status && rows[0].request_hash.equals(requestHash)) return { status: rows[0].response_status, body: JSON.stringify(rows[0].response_body), replay: true };
          return { status: 409, body: '{"code":"idempotency_conflict"}' };
        }
      }
      const prefixes = [];
      for (let i = 3; i <= phone.length; i++) prefixes.push(phone.slice(0, i));
      // the start's statements after the lock on their generic plans, as the service's (PhoneVelocityRepository.lock)
      await c.query(`SELECT set_config('plan_cache_mode', 'force_generic_plan', true), pg_advisory_xact_lock(hashtextextended($1, 7))`, [`phone:${phone}`]);
      await c.query(START_READ, [
        phone, prefixes, now,
        phone, minus(now, DAY), 10, minus(now, HOUR), 10,
        now, minus(now, HOUR), minus(now, DAY), CLIENT_ID, kinds, values, minus(now, 14 * DAY).toISOString().slice(0, 10), null, phone, minus(now, 30 * DAY),
      ]);
      await c.query(
        SUPERSEDE,
        [CLIENT_ID, phone, now],
      );
      const created = {
        risk: RISK, locale: 'ja', status: 'pending', channel: 'sms', purpose, codeKeyId: KEY_ID, reference: null, codeLength: 6, ttlSeconds: 300, transaction: null, idempotencyKey: idemKey ?? null,
      };
      await c.query(START_WRITE, [
        vid, CLIENT_ID, phone, 'JP', 'sms', purpose, 'ja', 'pending', codeHmac(vid, code), KEY_ID, 6, 300, 20, 1, 5, expiresAt, resendAt, null, null, null, JSON.stringify(RISK), now, now,
        phone, now, vid,
        now, mid, 'sms', vid, CLIENT_ID, encrypt(JSON.stringify({ to: phone, text })), 4, new Date(now.getTime() + 35_000), 1,
        201, answer, CLIENT_ID, idemKey ?? '',
        newId('evt'), 'verification.created', now, CLIENT_ID, vid, ph, mask, 'client', ACTOR, ip, JSON.stringify(created),
        newId('evt'), 'message.queued', now, CLIENT_ID, vid, ph, mask, 'client', ACTOR, null, JSON.stringify({ send: 1, channel: 'sms', outboxId: mid, segments: 1 }),
        bucket10(now), kinds, values, shards,
      ]);
      return { status: 201, body: answer };
    });
    if (out.status === 201 && !out.replay) setImmediate(() => send({ vid, mid, phone, ph, mask, text }).catch((err) => process.stderr.write(`send: ${err.message}\n`)));
    return out;
  }

  function providerPost(payload) {
    return new Promise((resolve, reject) => {
      const data = JSON.stringify(payload);
      const req = http.request(
        {
          agent: providerAgent, host: SMS_URL.hostname, port: SMS_URL.port, path: SMS_URL.pathname, method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), authorization: `Bearer ${PROVIDER_TOKEN}` },
          timeout: 5000,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode, body: text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(data);
    });
  }

  async function send({ vid, mid, phone, ph, mask, text }) {
    const t0 = Date.now();
    const res = await providerPost({ to: phone, text, reference: mid });
    const providerId = JSON.parse(res.body).id;
    const now = new Date();
    await pool.query(SENT_WRITE, [
      mid, 1, 0, 'http', true, 'accepted', null, null, Date.now() - t0, now,
      'sent', 'http', providerId, now, mid, 1,
      newId('evt'), 'message.sent', now, CLIENT_ID, vid, ph, mask, 'system', 'dispatcher', null,
      JSON.stringify({ route: [{ outcome: 'accepted', provider: 'http' }], attempt: 1, channel: 'sms', outboxId: mid, provider: 'http', segments: 1, providerMessageId: providerId }),
    ]);
  }

  async function check(vid, input, ip) {
    const now = new Date();
    const { rows: found } = await pool.query(CHECK_READ, [vid, CLIENT_ID]);
    const v = found[0];
    if (!v) return { status: 404, body: '{"code":"not_found"}' };
    const valid = timingSafeEqual(codeHmac(vid, String(input.code)), v.code_hmac);
    return tx(async (c) => {
      await c.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, [`phone:${v.phone_e164}`]);
      await c.query(`SELECT failed_at FROM phone_check_failures WHERE phone_e164 = $1 AND failed_at > $2 ORDER BY failed_at DESC LIMIT $3`, [v.phone_e164, minus(now, HOUR), 10]);
      const { rows } = await c.query(CHECK_UPDATE, [vid, v.code_hmac, valid, now]);
      const row = rows[0];
      if (!row) return { status: 409, body: '{"code":"verification_not_pending"}' };
      const ph = phoneHash(row.phone_e164);
      const mask = masked(row.phone_e164);
      const remaining = row.max_attempts - row.attempts;
      if (valid) {
        await c.query(APPROVED_WRITE, [
          newId('evt'), 'verification.approved', now, CLIENT_ID, vid, ph, mask, 'client', ACTOR, ip, JSON.stringify({ attempts: row.attempts + 1 }),
          vid, row.phone_e164.slice(1, 9), 'JP', now,
          row.phone_e164, CLIENT_ID, vid, now,
        ]);
      } else {
        await c.query(FAILED_WRITE, [
          newId('evt'), 'verification.check_failed', now, CLIENT_ID, vid, ph, mask, 'client', ACTOR, ip, JSON.stringify({ attemptsRemaining: remaining, transactionPresented: false }),
          row.phone_e164, now, vid,
        ]);
      }
      return { status: 200, body: JSON.stringify({ id: vid, status: row.status, valid, attemptsRemaining: remaining }) };
    });
  }

  /** The sequencer's work: chain the committed events after the head, in order, up to the first hole; batches of CHAIN_BATCH while they come back full. */
  const CHAIN_BATCH = new EnvSchema().AUDIT_SEQUENCER_BATCH_SIZE; // the service's default
  let chaining = false;
  async function chainPending() {
    if (chaining) return;
    chaining = true;
    try {
      while ((await tx(chainBatch)) === CHAIN_BATCH);
    } finally {
      chaining = false;
    }
  }
  /** One batch in the transaction `c`; returns how many events it chained. */
  async function chainBatch(c) {
    const { rows: [{ locked }] } = await c.query(`SELECT pg_try_advisory_xact_lock($1) AS locked`, ['7351829340517']);
    if (!locked) return 0;
    const { rows: [head] } = await c.query(`SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE`);
    const { rows } = await c.query(
      `SELECT e.id, e.seq, e.type, e.occurred_at, e.client_id, e.verification_id, e.phone_hash, e.phone_masked, e.actor_type, e.actor_id, e.ip, e.data FROM audit_events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2`,
      [head.seq, CHAIN_BATCH],
    );
    const ready = [];
    let prev = Number(head.seq);
    for (const r of rows) {
      const seq = Number(r.seq);
      if (seq !== prev + 1) break; // a transaction holding a lower number is still open
      ready.push({
        id: r.id, seq, type: r.type, occurredAt: r.occurred_at, clientId: r.client_id, verificationId: r.verification_id, phoneHash: r.phone_hash,
        phoneMasked: r.phone_masked, actorType: r.actor_type, actorId: r.actor_id, ip: r.ip, data: r.data ?? {},
      });
      prev = seq;
    }
    if (!ready.length) return 0;
    const linked = await linkEventsInSlices(head.hash, ready, () => new Promise(setImmediate));
    await c.query(INSERT_LINKS_SQL, insertLinksParams(linked));
    const last = linked[linked.length - 1];
    await c.query(`UPDATE audit_chain_head SET seq = $1, hash = $2, updated_at = $3 WHERE id = 1`, [String(last.seq), last.hash, new Date()]);
    return linked.length;
  }
  const sequencer = setInterval(() => chainPending().catch((err) => process.stderr.write(`chain: ${err.message}\n`)), 200);

  /**
   * The approvals' fold into the unit counters and the closed buckets' shard rows summed (src/risk/approval-folding.ts):
   * every second, batches of 5,000 (the shard rows one batch a tick), the service's own SQL.
   */
  let folding = false;
  async function foldApprovals() {
    if (folding) return;
    folding = true;
    try {
      const inBatches = async (work, maxBatches = Infinity) => {
        for (let batches = 0; batches < maxBatches; batches++) {
          const n = await tx(async (c) => {
            const { rows: [{ locked }] } = await c.query(`SELECT pg_try_advisory_xact_lock($1) AS locked`, ['7351829340521']);
            return locked ? work(c) : 0;
          });
          if (n < 5000) break;
        }
      };
      await inBatches(async (c) => (await c.query(foldApprovalsSql, [5000])).rows[0].folded);
      await inBatches(async (c) => (await c.query(collapseShardsSql, collapseShardsParams(new Date(), 5000))).rows[0].collapsed, 1);
    } finally {
      folding = false;
    }
  }
  const folder = setInterval(() => foldApprovals().catch((err) => process.stderr.write(`fold: ${err.message}\n`)), 1000);

  const stopLoops = () => {
    clearInterval(sequencer);
    clearInterval(folder);
  };
  return { pool, start, check, stopLoops };
}

const CHECK_PATH = /^\/v1\/verifications\/([^/]+)\/check$/;

/** The service's V8 heap settings at their defaults (src/bootstrap.ts, applyHeapSettings): GC tuning is not what service/floor measures. */
const SERVICE_HEAP_FLAGS = ['--heap-growing-percent=20', '--no-allocation-site-pretenuring'];

/** `node bench/floor.js`: the floor on node:http. */
function main() {
  for (const flag of SERVICE_HEAP_FLAGS) require('node:v8').setFlagsFromString(flag);
  const floor = createFloor();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      try {
        const input = JSON.parse(body);
        const ip = req.socket.remoteAddress.replace(/^::ffff:/, '');
        const m = CHECK_PATH.exec(req.url);
        const out = m ? await floor.check(m[1], input, ip) : await floor.start(input, req.headers['idempotency-key'], ip);
        res.writeHead(out.status, { 'content-type': 'application/json' });
        res.end(out.body);
      } catch (err) {
        res.writeHead(500);
        res.end(String(err && err.message));
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(Number(process.env.FLOOR_PORT), '127.0.0.1', () => process.send && process.send('ready'));
  process.on('SIGTERM', () => {
    floor.stopLoops();
    server.close(() => floor.pool.end().then(() => process.exit(0)));
    server.closeAllConnections?.();
  });
}

module.exports = { createFloor, SERVICE_HEAP_FLAGS };
if (require.main === module) main();
