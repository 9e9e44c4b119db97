/**
 * bench/pg-costs.js: what PostgreSQL's CPU pays per round trip and per commit, read from /proc on the database's host
 * (the test's database runs on this host). It prints one line per kind of work and leaves no database behind.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';

const run = promisify(execFile);

(process.platform === 'linux' ? describe : describe.skip)('bench: PostgreSQL CPU per round trip and per commit', () => {
  it('prints the backend and all of PostgreSQL per round trip, empty transaction and INSERT, and drops its database', async () => {
    const url = process.env.TEST_DATABASE_URL!;
    const { stdout } = await run(process.execPath, [path.join(__dirname, '..', 'bench', 'pg-costs.js'), url, '3000'], { timeout: 60_000 });
    const lines = stdout.trim().split('\n');
    const kinds = ['round trip (prepared SELECT)', 'empty transaction (BEGIN, COMMIT)', 'INSERT, its own transaction (commit flushed)', 'INSERT, all in one transaction'];
    expect(lines.map((l) => l.split(':')[0])).toEqual(kinds);
    const figures = lines.map((l) => {
      const m = /backend ([\d.]+) µs, all of PostgreSQL ([\d.]+) µs of CPU, ([\d.]+) µs elapsed, each \(n = 3000\)$/.exec(l);
      expect(m).not.toBeNull();
      return { backend: Number(m![1]), all: Number(m![2]), elapsed: Number(m![3]) };
    });
    // 3,000 round trips take tens of milliseconds of the backend's CPU: ticks of 10 ms pass
    expect(figures[0].backend).toBeGreaterThan(0);
    for (const f of figures) {
      expect(f.all).toBeGreaterThanOrEqual(f.backend);
      expect(f.elapsed).toBeGreaterThan(0);
    }
    const admin = new Client({ connectionString: url });
    await admin.connect();
    try {
      const { rows } = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE 'pg\\_costs\\_%'`);
      expect(rows).toEqual([]);
    } finally {
      await admin.end();
    }
  });
});
