// node bench/sizes.js <database url>: rows, bytes per row and bytes per million verifications of each table
// in a database the service wrote (e.g. one kept by `BENCH_KEEP=1 npm run bench`). Runs VACUUM ANALYZE first
// so that row counts are exact (reltuples) and dead tuples from the run's updates are marked reusable (the
// files do not shrink: what is printed is the space the tables take, as PostgreSQL keeps it).
// "per 1 M verifications" = the table's bytes / the number of verifications in this database × 1,000,000:
// the mix of the run that wrote it (say which run in the note).
'use strict';
const { Client } = require('pg');

async function main() {
  const url = process.argv[2] || process.env.SIZES_DATABASE_URL;
  if (!url) throw new Error('usage: node bench/sizes.js postgres://…/database');
  const c = new Client({ connectionString: url });
  await c.connect();
  await c.query('VACUUM ANALYZE');
  const { rows } = await c.query(
    `SELECT c.relname AS name, c.reltuples::bigint AS rows,
            pg_table_size(c.oid) AS heap, pg_indexes_size(c.oid) AS idx, pg_total_relation_size(c.oid) AS total
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r'
      ORDER BY pg_total_relation_size(c.oid) DESC`,
  );
  const [{ n: verifications }] = (await c.query(`SELECT count(*)::bigint AS n FROM verifications`)).rows;
  const [{ wal }] = (await c.query(`SELECT pg_current_wal_lsn()::text AS wal`)).rows;
  await c.end();
  const v = Number(verifications);
  const mb = (b) => (b / 1048576).toFixed(1);
  const lines = [`${v.toLocaleString('en-US')} verifications in this database; WAL position ${wal}.`, ''];
  lines.push('| table | rows | rows per verification | heap+toast MB | indexes MB | bytes per row (all) | MB per 1 M verifications |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|');
  let sum = 0;
  for (const r of rows) {
    const total = Number(r.total);
    if (total < 64 * 1024 && Number(r.rows) < 100) continue;
    const perM = (total / v) * 1e6;
    sum += perM;
    const n = Math.max(0, Number(r.rows));
    lines.push(
      `| ${r.name} | ${n.toLocaleString('en-US')} | ${(n / v).toFixed(2)} | ${mb(Number(r.heap))} | ${mb(Number(r.idx))} | ${n ? Math.round(total / n) : '–'} | ${mb(perM)} |`,
    );
  }
  lines.push(`| **all tables** | | | | | | **${mb(sum)}** |`);
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
