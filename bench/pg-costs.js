// What PostgreSQL's CPU pays per round trip and per commit, apart from any statement's work: `node bench/pg-costs.js
// <superuser URL> [n]` (n = 20000) creates a scratch database, and on one connection runs n of each, timing the
// backend's CPU from /proc (it must run on the database's host) and all of PostgreSQL's (bench/proc-cpu.js):
// - a round trip: one named prepared `SELECT $1::int` (parse once, then bind, execute and sync each time, as node-pg
//   sends a prepared statement);
// - an empty transaction, BEGIN and COMMIT as two round trips (no WAL to flush);
// - a one-row INSERT into a small table with an index, each its own transaction (its commit flushes the WAL);
// - the same INSERTs, n in one transaction (one commit): the difference to the previous is a commit's flush.
// Figures: docs/performance-log.md, "PostgreSQL's CPU per verification".
'use strict';
const { Client } = require('pg');
const { ownCpuMs, cpuMsOf } = require('./proc-cpu');

const URL_ = process.argv[2];
const N = Number(process.argv[3] || 20000);

async function main() {
  if (!URL_) throw new Error('usage: node bench/pg-costs.js <superuser URL> [n]');
  const admin = new Client({ connectionString: URL_ });
  await admin.connect();
  const db = `pg_costs_${process.pid}`;
  await admin.query(`CREATE DATABASE ${db}`);
  const url = new URL(URL_);
  url.pathname = `/${db}`;
  const c = new Client({ connectionString: url.toString() });
  try {
    await c.connect();
    await c.query(`CREATE TABLE t (id bigserial PRIMARY KEY, k text NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
    await c.query(`CREATE INDEX t_k ON t (k)`);
    const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const backendMs = () => ownCpuMs(pid);
    const measure = async (what, fn, per = N) => {
      await fn(200); // warm: the statement prepared, the plan cached
      const b0 = backendMs();
      const p0 = cpuMsOf('postgres');
      const t0 = process.hrtime.bigint();
      await fn(N);
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      const us = (ms) => ((ms * 1000) / per).toFixed(1);
      console.log(`${what}: backend ${us(backendMs() - b0)} µs, all of PostgreSQL ${us(cpuMsOf('postgres') - p0)} µs of CPU, ${us(wall)} µs elapsed, each (n = ${per})`);
    };
    await measure('round trip (prepared SELECT)', async (n) => {
      for (let i = 0; i < n; i++) await c.query({ name: 'one', text: 'SELECT $1::int AS x', values: [i] });
    });
    await measure('empty transaction (BEGIN, COMMIT)', async (n) => {
      for (let i = 0; i < n; i++) {
        await c.query('BEGIN');
        await c.query('COMMIT');
      }
    });
    await measure('INSERT, its own transaction (commit flushed)', async (n) => {
      for (let i = 0; i < n; i++) await c.query({ name: 'ins', text: 'INSERT INTO t (k) VALUES ($1)', values: [`k${i}`] });
    });
    await measure('INSERT, all in one transaction', async (n) => {
      await c.query('BEGIN');
      for (let i = 0; i < n; i++) await c.query({ name: 'ins', text: 'INSERT INTO t (k) VALUES ($1)', values: [`k${i}`] });
      await c.query('COMMIT');
    });
  } finally {
    await c.end().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
