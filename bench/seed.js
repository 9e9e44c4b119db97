// BENCH_SEED=N npm run bench: seeds N finished verifications into a database by bulk SQL, as if they had gone
// through the service over the 30 days before the run and housekeeping had never run (every row kept):
// per verification one row each of verifications (approved), phone_sends, outbox ('done', payload gone),
// outbox_attempts, idempotency_keys and risk_number_accounts, four audit events (verification.created,
// message.queued, message.sent, verification.approved, with data shaped as the service writes it) with their
// chain links, and the risk counters aggregated per number prefix and country (risk_unit_counts per 10
// minutes in shard 0, as the approvals' fold leaves a closed bucket; risk_unit_days per day; the per-hour split
// of a day is not seeded). Numbers are +8180 plus 8
// digits (a 0 first), one per verification, apart from the bench's own (a digit 1–9 after the 70, 80 or 90: bench/load.js, benchPhone).
//
// How it is fast enough for 10 million (minutes, not hours); the database must be one the bench owns:
// - one session with session_replication_role = replica: no row triggers (the audit tables' append-only
//   guards) and no foreign-key checks, which per row would cost more than the insert; the rows are
//   consistent by construction;
// - the secondary indexes of the seeded tables are dropped first and built again at the end from their own
//   definitions (a sort per index instead of millions of random inserts); keys that stay (primary keys, the
//   audit seq) are inserted in ascending order;
// - INSERT … SELECT FROM generate_series in chunks of CHUNK verifications, a commit each;
// - audit events get their seq here (after the trail's last, sequence moved past them) and are chained, after
//   any events of the database not chained yet (the CLI's), by this script with the service's own hash function (dist/src/audit/audit-chain.js), reading the events
//   back in seq order on one connection while the links of the previous batch are written on another, so
//   the integrity check passes over the seeded trail as over a real one.
// phone_hash is SHA-256 of a fixed prefix and the number (32 bytes, as the real HMAC): stored and chained like
// any other, only filtering by number in the audit list would not find the seeded events.
'use strict';
const path = require('node:path');
const { Client } = require('pg');

const CHUNK = 250_000;
const CHAIN_BATCH = 20_000;
const DAY_MS = 86_400_000;
const TABLES = ['verifications', 'phone_sends', 'outbox', 'outbox_attempts', 'idempotency_keys', 'risk_number_accounts', 'audit_events', 'audit_chain'];

async function seed({ url, count, clientId, log = () => undefined }) {
  const dist = (p) => require(path.join(__dirname, '..', 'dist', 'src', p));
  const { linkEvents } = dist('audit/audit-chain.js');
  const { EVENT_COLUMNS, fromRow, INSERT_LINKS_SQL, insertLinksParams } = dist('audit/audit-rows.js');
  const c = new Client({ connectionString: url });
  await c.connect();
  await c.query(`SET session_replication_role = replica`);
  await c.query(`SET synchronous_commit = off`);
  await c.query(`SET maintenance_work_mem = '1GB'`);
  const timings = {};
  const timed = async (name, fn) => {
    const s = Date.now();
    const r = await fn();
    timings[name] = (timings[name] || 0) + (Date.now() - s);
    return r;
  };

  // the seeded events follow the trail's last; events not chained yet (the CLI's, say) are chained with them
  const [{ last }] = (await c.query(`SELECT greatest((SELECT coalesce(max(seq), 0) FROM audit_events), (SELECT seq FROM audit_chain_head WHERE id = 1)) AS last`)).rows;
  const seqBase = Number(last);
  const [head] = (await c.query(`SELECT seq, hash FROM audit_chain_head WHERE id = 1`)).rows;
  const [{ unchained }] = (await c.query(`SELECT count(*)::int AS unchained FROM audit_events WHERE seq > $1`, [head.seq])).rows;

  // secondary indexes: dropped now, built again at the end
  const { rows: indexes } = await c.query(
    `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
       FROM pg_index i
      WHERE i.indrelid = ANY ($1::regclass[])
        AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`,
    [TABLES],
  );
  await timed('drop indexes', async () => {
    for (const ix of indexes) await c.query(`DROP INDEX ${ix.name}`);
  });

  const end = Date.now() - 60_000;
  const start = end - 30 * DAY_MS;
  const step = Math.floor((end - start) / Math.max(1, count));
  // the verification i: created at start + i * step, approved 20 s later
  const created = `to_timestamp((${start}::bigint + i * ${step}::bigint) / 1000.0)`;
  const id = `'vrf_SEED' || lpad(i::text, 22, '0')`;
  const mid = `'msg_SEED' || lpad(i::text, 22, '0')`;
  const phone = `'+8180' || lpad(i::text, 8, '0')`;

  for (let from = 0; from < count; from += CHUNK) {
    const to = Math.min(count, from + CHUNK);
    const series = `generate_series(${from}::bigint, ${to - 1}::bigint) AS i`;
    await c.query('BEGIN');
    await timed('business rows', async () => {
      await c.query(
        `INSERT INTO verifications (id, client_id, phone_e164, country, channel, purpose, locale, status, code_hmac, code_key_id, code_length, ttl_seconds,
                                    attempts, max_attempts, sends, max_sends, expires_at, resend_available_at, transaction, reference, callback_url, risk,
                                    created_at, updated_at, approved_at)
         SELECT ${id}, $1, ${phone}, 'JP', 'sms', 'login', 'ja', 'approved', sha256(convert_to(${id}, 'UTF8')), 'k1', 6, 300, 0, 5, 1, 5,
                t + interval '300 s', t + interval '30 s', NULL, NULL, NULL, '{"rules": [], "reasons": [], "decision": "allow"}'::jsonb,
                t, t + interval '20 s', t + interval '20 s'
           FROM ${series}, LATERAL (SELECT ${created} AS t) x`,
        [clientId],
      );
      await c.query(`INSERT INTO phone_sends (phone_e164, sent_at, verification_id) SELECT ${phone}, ${created}, ${id} FROM ${series}`);
      await c.query(
        `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, attempts, max_attempts, next_attempt_at, locked_until, last_error,
                             delivery_status, provider, provider_message_id, segments, created_at, updated_at)
         SELECT ${mid}, 'sms', ${id}, $1, NULL, 'done', 1, 4, t, NULL, NULL, 'sent', 'http', 'fake-seed-' || i, 1, t, t + interval '50 ms'
           FROM ${series}, LATERAL (SELECT ${created} AS t) x`,
        [clientId],
      );
      await c.query(
        `INSERT INTO outbox_attempts (outbox_id, attempt, leg, provider, ok, outcome, status_code, error, duration_ms, attempted_at)
         SELECT ${mid}, 1, 0, 'http', true, 'accepted', NULL, NULL, 12, ${created} + interval '50 ms' FROM ${series}`,
      );
      await c.query(
        `INSERT INTO idempotency_keys (client_id, key, request_hash, response_status, response_body, created_at)
         SELECT $1, 'seed-' || lpad(i::text, 10, '0'), sha256(convert_to('req' || i, 'UTF8')), 201,
                json_build_object('id', ${id}, 'status', 'pending', 'phoneNumber', '+81*******' || right(${phone}, 4), 'channel', 'sms', 'purpose', 'login',
                  'locale', 'ja', 'expiresAt', t + interval '300 s', 'resendAvailableAt', t + interval '30 s', 'attemptsRemaining', 5,
                  'sendsRemaining', 4, 'risk', json_build_object('decision', 'allow', 'reasons', '[]'::json),
                  'delivery', json_build_object('status', 'queued', 'provider', NULL, 'attempts', 1, 'updatedAt', t),
                  'transaction', NULL, 'reference', NULL, 'createdAt', t, 'approvedAt', NULL),
                t
           FROM ${series}, LATERAL (SELECT ${created} AS t) x`,
        [clientId],
      );
      await c.query(
        `INSERT INTO risk_number_accounts (phone_e164, client_id, account_ref_hash, verified_at)
         SELECT ${phone}, $1, ''::bytea, ${created} + interval '20 s' FROM ${series}`,
        [clientId],
      );
    });
    // four events per verification, in time order; seq follows the same order
    await timed('audit events', () =>
      c.query(
        `INSERT INTO audit_events (seq, id, type, occurred_at, client_id, verification_id, phone_hash, phone_masked, actor_type, actor_id, ip, data)
         SELECT ${seqBase}::bigint + i * 4 + e.n + 1, 'evt_SEED' || lpad((i * 4 + e.n)::text, 22, '0'), e.type, ${created} + e.delay, $1, ${id},
                sha256(convert_to('seed-phone:' || ${phone}, 'UTF8')), '+81*******' || right(${phone}, 4),
                CASE WHEN e.n = 2 THEN 'system' ELSE 'client' END, CASE WHEN e.n = 2 THEN 'dispatcher' ELSE 'key_SEED' END,
                CASE WHEN e.n IN (0, 3) THEN '10.0.0.1' END,
                CASE e.n
                  WHEN 0 THEN jsonb_build_object('risk', jsonb_build_object('rules', '[]'::jsonb, 'reasons', '[]'::jsonb, 'decision', 'allow'), 'locale', 'ja',
                              'status', 'pending', 'channel', 'sms', 'purpose', 'login', 'codeKeyId', 'k1', 'reference', NULL, 'codeLength', 6,
                              'ttlSeconds', 300, 'transaction', NULL, 'idempotencyKey', 'seed-' || lpad(i::text, 10, '0'))
                  WHEN 1 THEN jsonb_build_object('send', 1, 'channel', 'sms', 'outboxId', ${mid}, 'segments', 1)
                  WHEN 2 THEN jsonb_build_object('route', jsonb_build_array(jsonb_build_object('outcome', 'accepted', 'provider', 'http')), 'attempt', 1,
                              'channel', 'sms', 'outboxId', ${mid}, 'provider', 'http', 'segments', 1, 'providerMessageId', 'fake-seed-' || i)
                  ELSE jsonb_build_object('attempts', 1)
                END
           FROM ${series}
          CROSS JOIN (VALUES (0, 'verification.created', interval '0 s'), (1, 'message.queued', interval '0 s'),
                             (2, 'message.sent', interval '50 ms'), (3, 'verification.approved', interval '20 s')) AS e(n, type, delay)
          ORDER BY i, e.n`,
        [clientId],
      ),
    );
    await c.query('COMMIT');
    log(`seed: ${to.toLocaleString('en-US')} / ${count.toLocaleString('en-US')} verifications`);
  }
  const lastSeq = seqBase + count * 4;
  if (count > 0) await c.query(`SELECT setval('audit_event_seq', $1)`, [lastSeq]);

  // the risk counters, aggregated (the service upserts them per start and folds approvals in)
  await timed('risk counters', async () => {
    const bucket = (p) => `to_timestamp(floor(${p} / 600000.0) * 600)`;
    const day = (p) => `(to_timestamp(${p} / 1000.0) AT TIME ZONE 'UTC')::date`;
    const ms = `(${start}::bigint + i * ${step}::bigint)`;
    const units = `SELECT 'prefix' AS k, '8180' || substr(lpad(i::text, 8, '0'), 1, 4) AS u, ${ms} AS p FROM generate_series(0::bigint, ${count - 1}::bigint) AS i
                   UNION ALL SELECT 'country', 'JP', ${ms} FROM generate_series(0::bigint, ${count - 1}::bigint) AS i`;
    await c.query(
      `INSERT INTO risk_unit_counts (kind, unit, bucket, shard, started, verified)
       SELECT k, u, ${bucket('p')}, 0, count(*), count(*) FROM (${units}) x GROUP BY 1, 2, 3
       ON CONFLICT (kind, unit, bucket, shard) DO UPDATE SET started = risk_unit_counts.started + EXCLUDED.started, verified = risk_unit_counts.verified + EXCLUDED.verified`,
    );
    await c.query(
      `INSERT INTO risk_unit_days (kind, unit, day, shard, verified, verified_hours)
       SELECT k, u, ${day('p')}, 0, count(*), array_fill(0, ARRAY[24]) FROM (${units}) x GROUP BY 1, 2, 3
       ON CONFLICT (kind, unit, day, shard) DO UPDATE SET verified = risk_unit_days.verified + EXCLUDED.verified`,
    );
  });

  // chain the seeded events: read a batch in seq order, link it after the head, write the links on a second
  // connection while the next batch is read and linked
  const w = new Client({ connectionString: url });
  await w.connect();
  await w.query(`SET session_replication_role = replica`);
  await w.query(`SET synchronous_commit = off`);
  let prev = head.hash;
  let chained = 0;
  await timed('chaining', async () => {
    const read = (after) => c.query({ text: `SELECT ${EVENT_COLUMNS} FROM audit_events e WHERE e.seq > $1 ORDER BY e.seq LIMIT ${CHAIN_BATCH}`, values: [after] });
    let pending = read(head.seq);
    let writing = Promise.resolve();
    for (;;) {
      const { rows } = await pending;
      if (rows.length === 0) break;
      pending = read(rows[rows.length - 1].seq);
      const linked = linkEvents(prev, rows.map(fromRow));
      prev = linked[linked.length - 1].hash;
      chained += linked.length;
      await writing;
      writing = w
        .query(INSERT_LINKS_SQL, insertLinksParams(linked))
        .then(() => undefined);
      if (chained % 1_000_000 < CHAIN_BATCH) log(`seed: chained ${chained.toLocaleString('en-US')} events`);
    }
    await writing;
  });
  await w.end();
  if (chained !== count * 4 + unchained) throw new Error(`seed: chained ${chained} events, expected ${count * 4 + unchained}`);
  if (chained > 0) {
    // through the head's forward-only trigger, as the sequencer moves it
    await c.query(`SET session_replication_role = origin`);
    await c.query(`UPDATE audit_chain_head SET seq = $1, hash = $2, updated_at = now() WHERE id = 1`, [String(lastSeq), prev]);
  }

  await timed('build indexes', async () => {
    for (const ix of indexes) await c.query(ix.def);
  });
  await timed('vacuum analyze', () => c.query('VACUUM ANALYZE'));
  await c.end();
  const detail = Object.entries(timings)
    .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(0)} s`)
    .join(', ');
  return { chained, detail: `${detail}; ${chained.toLocaleString('en-US')} events chained` };
}

module.exports = { seed };
