// Load generators of `npm run bench`: node:http over one keep-alive agent, no sampling tick.
//
// closedLoop: `connections` workers, each sending its next request when its last answer arrived, for at
//   least `seconds` (no request is started after that; the ones in flight are waited for). The row's
//   duration runs from the first request sent to the last answer received, so rate = answers / duration.
// openLoop: requests scheduled at a fixed offered rate (request i at t0 + i / rate) whatever the answers do;
//   latency is measured from the scheduled time, so a stalled server is charged for the requests it made
//   wait (no coordinated omission).
'use strict';
const http = require('node:http');
const { performance } = require('node:perf_hooks');

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);

function agent(maxSockets) {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

/** One POST; resolves { status, body } (body text). */
function post(ag, base, path, headers, payload) {
  return new Promise((resolve, reject) => {
    const data = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const u = new URL(path, base);
    const req = http.request(
      {
        agent: ag,
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

function summary(name, latencies, errors, first, last) {
  latencies.sort((a, b) => a - b);
  const seconds = (last - first) / 1000;
  return { name, count: latencies.length, seconds, rps: latencies.length / seconds, p50: pct(latencies, 50), p99: pct(latencies, 99), errors };
}

/**
 * Closed loop. `next(i)` returns the request { path, body, headers? } or a promise of one, or null when
 * there is nothing left to send; `done(i, answer, request)` returns true when the answer is the expected one.
 * `task(i)` instead of next/done runs one whole unit of work (e.g. a flow) and returns true when it succeeded, else
 * what went wrong (counted in the row's failures).
 */
async function closedLoop({ name, base, connections, seconds, headers = {}, next, done, task }) {
  const ag = agent(connections);
  const latencies = [];
  const failures = {};
  let errors = 0;
  let i = 0;
  let first = Infinity;
  let last = 0;
  const stopAt = performance.now() + seconds * 1000;
  let exhausted = false;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (!exhausted && performance.now() < stopAt) {
        const n = i++;
        let s = performance.now();
        let ok;
        try {
          if (task) {
            first = Math.min(first, s);
            const outcome = await task(n, ag);
            ok = outcome === true;
            if (!ok) failures[outcome || 'failed'] = (failures[outcome || 'failed'] || 0) + 1;
          } else {
            const r = await next(n);
            if (!r) {
              exhausted = true;
              break;
            }
            s = performance.now();
            first = Math.min(first, s);
            const answer = await post(ag, base, r.path, { ...headers, ...r.headers }, r.body);
            ok = done(n, answer, r);
            if (!ok) failures[answer.status] = (failures[answer.status] || 0) + 1;
          }
        } catch (err) {
          ok = false;
          failures[err.code || 'error'] = (failures[err.code || 'error'] || 0) + 1;
        }
        const e = performance.now();
        last = Math.max(last, e);
        latencies.push(e - s);
        if (!ok) errors++;
      }
    }),
  );
  ag.destroy();
  const row = summary(name, latencies, errors, first, last);
  row.exhausted = exhausted;
  row.failures = failures;
  return row;
}

/**
 * Open loop at `rate` requests per second for `seconds`. `next(i)` as above (synchronous: the request must be
 * ready at its time); `onSent(i, request, scheduledAt)` is told the scheduled send time.
 */
async function openLoop({ name, base, rate, seconds, headers = {}, next, done, onSent }) {
  const ag = agent(1024);
  const total = Math.round(rate * seconds);
  const failures = {};
  const latencies = [];
  let errors = 0;
  let sent = 0;
  let last = 0;
  const inflight = [];
  const t0 = performance.now() + 20;
  let lateSends = 0;
  let maxLate = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && t0 + (sent * 1000) / rate <= now) {
        const n = sent++;
        const at = t0 + (n * 1000) / rate;
        if (now - at > 5) lateSends++;
        maxLate = Math.max(maxLate, now - at);
        const r = next(n);
        onSent?.(n, r, at);
        inflight.push(
          post(ag, base, r.path, { ...headers, ...r.headers }, r.body).then(
            (answer) => {
              const e = performance.now();
              last = Math.max(last, e);
              latencies.push(e - at);
              if (!done(n, answer, r)) {
                errors++;
                failures[answer.status] = (failures[answer.status] || 0) + 1;
              }
            },
            (err) => {
              errors++;
              failures[err.code || 'error'] = (failures[err.code || 'error'] || 0) + 1;
            },
          ),
        );
      }
      if (sent < total) setTimeout(tick, Math.max(0, Math.min(1, t0 + (sent * 1000) / rate - performance.now())));
      else resolve();
    };
    setTimeout(tick, 20);
  });
  await Promise.all(inflight);
  ag.destroy();
  const row = summary(name, latencies, errors, t0, last);
  row.offered = rate;
  row.lateSends = lateSends;
  row.maxLate = maxLate;
  row.failures = failures;
  return row;
}

/** A port free on 127.0.0.1 now. */
function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The floors' client, its id as long as the service's (`cli_` and a ULID), so that their rows are as long. */
const FLOOR_CLIENT_ID = 'cli_FLOOR' + '0'.repeat(21);

/**
 * The n-th number a bench sends a code to: Japanese mobiles (+81 70/80/90, then a digit 1–9: what libphonenumber
 * takes for a mobile) spread over 27,000 prefixes of 8 digits (the risk rules' default prefix), the n-th in prefix
 * n mod 27,000, so that a run's tens of thousands of starts give each prefix two or three: traffic as a bank's users
 * make it. Consecutive numbers (10,000 to a prefix) are what SMS pumping looks like: from the eleventh unverified
 * start in an hour the prefix's pumping rule trips, and every start after it records the suspension in its risk
 * decision and its `verification.created` event (about 180 bytes more in each, 10 % more WAL per start), work the
 * floor does not do. The bench's numbers never reach the seeded ones (bench/seed.js: +8180 and a 0).
 */
const PREFIXES_PER_CARRIER = 9000;
function benchPhone(n) {
  const p = n % (3 * PREFIXES_PER_CARRIER);
  const carrier = ['90', '80', '70'][Math.floor(p / PREFIXES_PER_CARRIER)];
  const prefix = 1000 + (p % PREFIXES_PER_CARRIER);
  const subscriber = Math.floor(n / (3 * PREFIXES_PER_CARRIER)) % 10000;
  return `+81${carrier}${prefix}${String(subscriber).padStart(4, '0')}`;
}

/**
 * The service's settings for a bench: its limits out of the way of one client sending thousands of starts. A pumping
 * rule that trips all the same (a long run, a seeded database) is recorded rather than denying the rest of the run.
 */
const SERVICE_BENCH_LIMITS = {
  THROTTLE_LIMIT: '1000000000',
  PHONE_SENDS_PER_15_MIN: '1000000',
  PHONE_SENDS_PER_24_H: '1000000',
  PHONE_CHECK_FAILURES_PER_HOUR: '1000000',
  RISK_PUMPING_MODE: 'record_only',
};

/**
 * The node flags a checkout's `npm start` launches the service with (its package.json), so that the bench runs each
 * service, and the floors, as it runs in production: a baseline checkout with its own, the floors with this one's.
 */
function launchFlags(checkout) {
  const start = JSON.parse(require('node:fs').readFileSync(require('node:path').join(checkout, 'package.json'), 'utf8')).scripts.start;
  const m = /^node((?:\s+--\S+)*)\s+dist\/src\/main\.js$/.exec(start);
  if (!m) throw new Error(`${checkout}/package.json: scripts.start is not "node [flags] dist/src/main.js": ${start}`);
  return m[1].split(/\s+/).filter(Boolean);
}

/** BENCH_NODE_ARGS: node flags every target gets after its launch flags (NODE_OPTIONS does not reach the targets). */
const BENCH_NODE_ARGS = (process.env.BENCH_NODE_ARGS || '').split(/\s+/).filter(Boolean);

module.exports = { closedLoop, openLoop, post, agent, pct, freePort, launchFlags, benchPhone, FLOOR_CLIENT_ID, BENCH_NODE_ARGS, SERVICE_BENCH_LIMITS };
