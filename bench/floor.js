// The floor: the least a service can do per request with the same SQL writes, on node:http + pg.
//   POST /start {phone}  -> one transaction: verification + 2 audit events + phone_sends + outbox rows
//   POST /check {id, code} -> one transaction: the atomic UPDATE + audit event (+ failure row when wrong)
// No auth, no validation, no framework: the service is compared with this in the same run.
const http = require('node:http');
const { createHmac, randomBytes, randomInt } = require('node:crypto');
const { Pool } = require('pg');

const pool = new Pool({ connectionString: process.env.FLOOR_DATABASE_URL, max: Number(process.env.FLOOR_POOL_SIZE || 10) });
const KEY = Buffer.alloc(32, 1);
const CLIENT_ID = process.env.FLOOR_CLIENT_ID;
const id = (p) => `${p}_${randomBytes(13).toString('hex')}`;
const hmac = (vid, code) => createHmac('sha256', KEY).update(`otp-v1\0${vid}\0${code}\0`).digest();

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

const AUDIT = `INSERT INTO audit_events (id, type, occurred_at, client_id, verification_id, phone_hash, phone_masked, actor_type, actor_id, ip, data)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'client', 'key_floor', '127.0.0.1', $8)`;

async function start({ phone }) {
  const now = new Date();
  const vid = id('vrf');
  let code = '';
  for (let i = 0; i < 6; i++) code += randomInt(10);
  const phoneHash = createHmac('sha256', KEY).update(phone).digest();
  await tx(async (c) => {
    await c.query(
      `INSERT INTO verifications (id, client_id, phone_e164, country, channel, purpose, locale, status, code_hmac, code_key_id, code_length, ttl_seconds,
                                  max_attempts, sends, max_sends, expires_at, resend_available_at, transaction, reference, callback_url, risk, created_at, updated_at)
       VALUES ($1, $2, $3, 'JP', 'sms', 'login', 'ja', 'pending', $4, 'k1', 6, 300, 20, 1, 5, $5, $6, NULL, NULL, NULL, '{"decision":"allow","reasons":[]}', $7, $7)`,
      [vid, CLIENT_ID, phone, hmac(vid, code), new Date(now.getTime() + 300000), new Date(now.getTime() + 30000), now],
    );
    await c.query(AUDIT, [id('evt'), 'verification.created', now, CLIENT_ID, vid, phoneHash, '+81*******0000', '{"status":"pending"}']);
    await c.query(`INSERT INTO phone_sends (phone_e164, sent_at, verification_id) VALUES ($1, $2, $3)`, [phone, now, vid]);
    await c.query(
      `INSERT INTO outbox (id, kind, verification_id, client_id, payload, status, max_attempts, next_attempt_at, segments, created_at, updated_at)
       VALUES ($1, 'sms', $2, $3, $4, 'done', 4, $5, 1, $5, $5)`,
      [id('msg'), vid, CLIENT_ID, randomBytes(180), now],
    );
    await c.query(AUDIT, [id('evt'), 'message.queued', now, CLIENT_ID, vid, phoneHash, '+81*******0000', '{"channel":"sms"}']);
  });
  return { id: vid, code, status: 'pending' };
}

async function check({ id: vid, code }) {
  const now = new Date();
  return tx(async (c) => {
    const { rows } = await c.query(
      `UPDATE verifications SET status = CASE WHEN code_hmac = $2 THEN 'approved' WHEN attempts + 1 >= max_attempts THEN 'locked' ELSE 'pending' END,
              attempts = attempts + CASE WHEN code_hmac = $2 THEN 0 ELSE 1 END, updated_at = $3
        WHERE id = $1 AND status = 'pending' AND expires_at > $3 RETURNING status, attempts, max_attempts, phone_e164`,
      [vid, hmac(vid, code), now],
    );
    if (!rows[0]) return { status: 409 };
    const valid = rows[0].status === 'approved';
    if (!valid) await c.query(`INSERT INTO phone_check_failures (phone_e164, failed_at, verification_id) VALUES ($1, $2, $3)`, [rows[0].phone_e164, now, vid]);
    await c.query(AUDIT, [id('evt'), valid ? 'verification.approved' : 'verification.check_failed', now, CLIENT_ID, vid, null, null, '{}']);
    return { id: vid, status: rows[0].status, valid, attemptsRemaining: rows[0].max_attempts - rows[0].attempts };
  });
}

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', async () => {
    try {
      const input = JSON.parse(body);
      const out = req.url === '/start' ? await start(input) : await check(input);
      res.writeHead(out.status === 409 ? 409 : req.url === '/start' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out));
    } catch (err) {
      res.writeHead(500);
      res.end(String(err && err.message));
    }
  });
});
server.listen(Number(process.env.FLOOR_PORT), '127.0.0.1', () => process.send && process.send('ready'));
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
