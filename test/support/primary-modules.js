// Preload for the WORKERS=2 test (test/workers.e2e-spec.ts): in a cluster's primary only, each time a worker starts
// listening, writes the files of the modules the primary has loaded so far (require's cache) to PRIMARY_MODULES_FILE.
'use strict';
const cluster = require('node:cluster');
const { writeFileSync } = require('node:fs');

if (cluster.isPrimary && process.env.PRIMARY_MODULES_FILE) {
  cluster.on('listening', () => writeFileSync(process.env.PRIMARY_MODULES_FILE, JSON.stringify(Object.keys(require.cache))));
}
