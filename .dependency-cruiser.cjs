// Module boundaries, as ../shared/ARCHITECTURE.md ("Modules", the "may import" column) draws them.
// Run by `npm run lint` (and so by CI): `depcruise src migrations --config .dependency-cruiser.cjs`.
// test/boundaries.spec.ts runs this same file against a fixture tree, so a rule that stops firing shows.
//
// A module is a top-level folder of src/. The files directly in src/ (app.module.ts, app.factory.ts,
// main.ts, cli.ts, bootstrap.ts, data-source.ts…) are composition roots: they may import anything and
// nothing inside a module may import them. Type-only imports count as much as value imports
// (tsPreCompilationDeps): a type crossing a forbidden line is still a coupling.
//
// Adding a module: a row in ARCHITECTURE.md's table, then an entry in MAY_IMPORT below (same order:
// arrows point one way, down the table).

/** ARCHITECTURE.md's "may import" column. Every module may also import its own files and `config`. */
const MAY_IMPORT = {
  config: [], // the one typed reader of process.env: imports nothing of ours
  common: [],
  database: ['common'], // the table says config; common too, for the clock and the SQL helpers
  clients: ['common', 'database', 'audit'],
  audit: ['common', 'database'],
  gateway: ['common', 'database', 'audit'],
  risk: ['common', 'database', 'audit', 'gateway', 'clients'],
  issuance: ['common', 'database', 'audit', 'gateway', 'risk', 'clients'],
  verification: ['common', 'database', 'audit', 'gateway', 'issuance'],
  health: ['common', 'database'],
  metrics: ['common', 'database'],
  throttling: ['common', 'database'], // not in the table yet: the rate limiter, a leaf like health and metrics
};

/** Modules without a row of their own in ARCHITECTURE.md's table (yet). */
const NOT_IN_TABLE = { throttling: 'the rate limiter; treated as a leaf like `health` and `metrics`' };

const MODULES = Object.keys(MAY_IMPORT);
const ANY_MODULE = '^src/[^/]+/'; // a file inside a module folder
const COMPOSITION_ROOT = '^src/[^/]+\\.[cm]?[jt]s$'; // a file directly in src/

function layerRule(module) {
  const allowed = module === 'config' ? [] : ['config', ...MAY_IMPORT[module]];
  const list = allowed.length ? allowed.join(', ') : 'no other module';
  return {
    name: allowed.length ? `${module}-may-import-only-${allowed.join('-')}` : `${module}-may-import-no-module`,
    severity: 'error',
    comment:
      (NOT_IN_TABLE[module]
        ? `\`${module}\` (${NOT_IN_TABLE[module]}) has no row in ARCHITECTURE.md's module table; it may import ${list}. `
        : `ARCHITECTURE.md, module table, row \`${module}\`: it may import ${list}. `) +
      (module === 'config'
        ? '`config` is the bottom layer, the one reader of the environment: it depends on no module. '
        : 'Arrows point one way, down the table; every module may import `config`. ') +
      'To talk back up, publish an event from common/events (or move the shared piece down a layer); ' +
      'to change the arrows, change ARCHITECTURE.md first, then MAY_IMPORT in .dependency-cruiser.cjs.',
    from: { path: `^src/${module}/` },
    to: { path: ANY_MODULE, pathNot: `^src/(${[module, ...allowed].join('|')})/` },
  };
}

module.exports = {
  forbidden: [
    ...MODULES.map(layerRule),
    {
      name: 'module-not-in-architecture-table',
      severity: 'error',
      comment:
        'ARCHITECTURE.md, "Modules": every top-level folder of src/ is a module with a row in the table ' +
        '(what it owns, what it may import). Add the row and an entry in MAY_IMPORT in .dependency-cruiser.cjs.',
      from: { path: ANY_MODULE, pathNot: `^src/(${MODULES.join('|')})/` },
      to: {},
    },
    {
      name: 'module-imports-composition-root',
      severity: 'error',
      comment:
        'The files directly in src/ (app.module.ts, app.factory.ts, main.ts, cli.ts, bootstrap.ts, data-source.ts) ' +
        'compose the modules (ARCHITECTURE.md: modules are composed through dependency injection). ' +
        'They may import any module; no module may import them. Move what you need into the right module.',
      from: { path: ANY_MODULE },
      to: { path: COMPOSITION_ROOT },
    },
    {
      name: 'only-database-imports-migrations',
      severity: 'error',
      comment:
        'ARCHITECTURE.md, row `database`: it is the data source for the app and the migration CLI, so it (and the ' +
        'composition roots) alone import migrations/. Other modules reach the schema through the owner\'s repository.',
      from: { path: ANY_MODULE, pathNot: '^src/database/' },
      to: { path: '^migrations/' },
    },
    {
      name: 'migrations-may-import-only-database',
      severity: 'error',
      comment:
        'ARCHITECTURE.md, "The schema changes only through migrations": a migration is a frozen snapshot of the ' +
        'schema. It may import other migrations, npm packages (typeorm) and src/database, never a module\'s code, ' +
        'whose later changes would silently rewrite an applied migration. Copy what you need into the migration.',
      from: { path: '^migrations/' },
      to: { path: '^src/', pathNot: '^src/database/' },
    },
    {
      name: 'entities-stay-in-their-module',
      severity: 'error',
      comment:
        'ARCHITECTURE.md, "Modules": a module exports its services, repository methods, DTOs and event types, ' +
        'never its rows or entities; only the owner touches its tables, through its repository. Call a method the ' +
        'owner exports instead (composition roots, such as src/data-source.ts, may collect entities).',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/[^/]+/entities/', pathNot: '^src/$1/' },
    },
    {
      name: 'src-imports-no-test-code',
      severity: 'error',
      comment:
        'Test helpers and fakes in test/ may import any module, so production code importing them would ' +
        'bypass every arrow above. Only spec files (*.spec.ts) may use test/support.',
      from: { path: '^src/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^test/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'ARCHITECTURE.md: "A cycle, or a forwardRef, is a design error: move the shared piece down a layer." ' +
        'This catches cycles between files (inside a module too); the rules above already make cycles between ' +
        'modules impossible, as every arrow points down the table.',
      from: { path: '^(src|migrations)/' },
      to: { circular: true },
    },
    {
      name: 'no-unresolvable-import',
      severity: 'error',
      comment:
        'An import dependency-cruiser cannot resolve escapes every rule above; fix the path (or install the package).',
      from: { path: '^(src|migrations)/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    // Type-only imports (`import type`, `import { type X }`) are dependencies too.
    tsPreCompilationDeps: true,
    moduleSystems: ['es6', 'cjs'],
    enhancedResolveOptions: {
      extensions: ['.ts', '.d.ts', '.js', '.cjs', '.mjs', '.json'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
    skipAnalysisNotInRules: true,
  },
};
