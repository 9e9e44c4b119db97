import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The boundary lint (`npm run lint` → dependency-cruiser with .dependency-cruiser.cjs) fails on a wrong
 * import. It runs the same command and the same rule file against small fixture trees laid out like src/,
 * so it does not depend on the state of src/ itself.
 */

const ROOT = path.resolve(__dirname, '..');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

/** ARCHITECTURE.md's "may import" column, transcribed independently of .dependency-cruiser.cjs (plus `config` for all). */
const MAY_IMPORT: Record<string, string[]> = {
  config: [],
  common: ['config'],
  database: ['config', 'common'],
  clients: ['config', 'common', 'database', 'audit'],
  audit: ['config', 'common', 'database'],
  gateway: ['config', 'common', 'database', 'audit'],
  risk: ['config', 'common', 'database', 'audit', 'gateway', 'clients'],
  issuance: ['config', 'common', 'database', 'audit', 'gateway', 'risk', 'clients'],
  verification: ['config', 'common', 'database', 'audit', 'gateway', 'issuance'],
  health: ['config', 'common', 'database'],
  metrics: ['config', 'common', 'database'],
  throttling: ['config', 'common', 'database'],
};
const MODULES = Object.keys(MAY_IMPORT);

/** The depcruise part of `npm run lint`, as package.json has it. */
function lintArgs(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const step = String(pkg.scripts.lint)
    .split('&&')
    .map((s) => s.trim())
    .find((s) => s.startsWith('depcruise '));
  if (!step) throw new Error('package.json scripts.lint does not run depcruise');
  return step.split(/\s+/).slice(1);
}

interface Violation {
  rule: string;
  from: string;
  to: string;
}

const fixtures: string[] = [];

/** Writes a fixture tree (paths relative to its root) and the real rule file beside it. */
function fixture(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otp-boundaries-'));
  fixtures.push(dir);
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
  fs.copyFileSync(CONFIG, path.join(dir, '.dependency-cruiser.cjs'));
  return dir;
}

function depcruise(dir: string, args: string[]) {
  const run = spawnSync(process.execPath, [DEPCRUISE, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (run.error) throw run.error;
  return run;
}

/** The lint command exactly as `npm run lint` runs it: exit status and what it prints. */
function lint(dir: string) {
  const run = depcruise(dir, lintArgs());
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** The same command with JSON output, reduced to (rule, from, to). */
function violations(dir: string): Violation[] {
  const args = lintArgs();
  const i = args.indexOf('--output-type');
  if (i >= 0) args.splice(i, 2);
  const run = depcruise(dir, [...args, '--output-type', 'json']);
  if (!run.stdout.trim().startsWith('{')) throw new Error(`depcruise failed (${run.status}): ${run.stderr}`);
  const result = JSON.parse(run.stdout);
  return result.summary.violations.map((v: { rule: { name: string }; from: string; to: string }) => ({
    rule: v.rule.name,
    from: v.from,
    to: v.to,
  }));
}

const imports = (...specifiers: string[]) => specifiers.map((s, i) => `import * as m${i} from '${s}';\nvoid m${i};\n`).join('') + 'export const x = 1;\n';

/** A tree every rule accepts: each module imports everything it may, the roots import every module. */
function cleanTree(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const m of MODULES) {
    files[`src/${m}/${m}.ts`] = imports(...MAY_IMPORT[m].map((d) => `../${d}/${d}`));
    files[`src/${m}/inner.ts`] = imports(`./${m}`); // a module may import its own files
  }
  files['src/database/data-source-options.ts'] = imports('../../migrations');
  files['src/database/sql.ts'] = imports();
  files['src/app.module.ts'] = imports(...MODULES.map((m) => `./${m}/${m}`));
  files['src/main.ts'] = imports('./app.module', './database/data-source-options');
  files['src/data-source.ts'] = imports('./database/data-source-options', '../migrations');
  files['migrations/1-first.ts'] = imports('../src/database/sql');
  files['migrations/2-second.ts'] = imports('./1-first'); // a migration may reuse an earlier one's text
  files['migrations/index.ts'] = imports('./1-first', './2-second');
  return files;
}

afterAll(() => {
  for (const dir of fixtures) fs.rmSync(dir, { recursive: true, force: true });
});

describe('boundary lint (.dependency-cruiser.cjs)', () => {
  it('passes a tree that keeps to ARCHITECTURE.md, with the exit status npm run lint sees', () => {
    const dir = fixture(cleanTree());
    expect(violations(dir)).toEqual([]);
    expect(lint(dir).status).toBe(0);
  });

  it('fails on deliberately wrong imports, naming the rule each one breaks', () => {
    const dir = fixture({
      ...cleanTree(),
      // gateway sits below issuance: nothing imports issuance but verification
      'src/gateway/x.ts': imports('../issuance/y'),
      'src/issuance/y.ts': imports('../risk/risk'), // allowed: issuance → risk
      'src/verification/v.ts': imports('../issuance/y'), // allowed: verification → issuance
      // a type-only import across a forbidden line is a coupling too
      'src/audit/a.ts': `import type { B } from '../clients/b';\nexport type A = B;\n`,
      'src/gateway/t.ts': `import { type B } from '../clients/b';\nexport type T = B;\n`,
      'src/clients/b.ts': `export interface B { id: string }\n`,
      // a cycle inside a module
      'src/issuance/c1.ts': imports('./c2'),
      'src/issuance/c2.ts': imports('./c1'),
      // config imports nothing of ours
      'src/config/c.ts': imports('../common/common'),
      // modules never import a composition root
      'src/health/h.ts': imports('../app.module'),
      // only database reads the migrations
      'src/metrics/m.ts': imports('../../migrations'),
      // migrations never import a module's code
      'migrations/3-bad.ts': imports('../src/issuance/y'),
      // a folder that is not in the table
      'src/newthing/n.ts': imports('../common/common'),
      // an import nothing can resolve would slip past every rule
      'src/risk/r.ts': imports('./missing'),
      // another module's entities, even where the module itself may be imported (risk → clients is allowed)
      'src/risk/e.ts': imports('../clients/entities/row'),
      'src/clients/entities/row.ts': imports(),
      'src/clients/own.ts': imports('./entities/row'), // the owner uses its own entities
      // production code never imports test code; a spec file may use test/support
      'src/gateway/s.ts': imports('../../test/support/fake'),
      'src/gateway/s.spec.ts': imports('../../test/support/fake'),
      'test/support/fake.ts': imports(),
    });

    const found = violations(dir);
    expect(found).toEqual(
      expect.arrayContaining([
        { rule: 'gateway-may-import-only-config-common-database-audit', from: 'src/gateway/x.ts', to: 'src/issuance/y.ts' },
        { rule: 'audit-may-import-only-config-common-database', from: 'src/audit/a.ts', to: 'src/clients/b.ts' },
        { rule: 'gateway-may-import-only-config-common-database-audit', from: 'src/gateway/t.ts', to: 'src/clients/b.ts' },
        { rule: 'config-may-import-no-module', from: 'src/config/c.ts', to: 'src/common/common.ts' },
        { rule: 'module-imports-composition-root', from: 'src/health/h.ts', to: 'src/app.module.ts' },
        { rule: 'only-database-imports-migrations', from: 'src/metrics/m.ts', to: 'migrations/index.ts' },
        { rule: 'migrations-may-import-only-database', from: 'migrations/3-bad.ts', to: 'src/issuance/y.ts' },
        { rule: 'module-not-in-architecture-table', from: 'src/newthing/n.ts', to: 'src/common/common.ts' },
        { rule: 'no-unresolvable-import', from: 'src/risk/r.ts', to: './missing' },
        { rule: 'entities-stay-in-their-module', from: 'src/risk/e.ts', to: 'src/clients/entities/row.ts' },
        { rule: 'src-imports-no-test-code', from: 'src/gateway/s.ts', to: 'test/support/fake.ts' },
      ]),
    );
    // the cycle is reported once, on one of its two arrows
    const cycles = found.filter((v) => v.rule === 'no-circular');
    expect(cycles).toHaveLength(1);
    expect([cycles[0].from, cycles[0].to].sort()).toEqual(['src/issuance/c1.ts', 'src/issuance/c2.ts']);
    expect(found).toHaveLength(12); // nothing else: in particular not the allowed imports below
    expect(found).not.toContainEqual(expect.objectContaining({ from: 'src/issuance/y.ts' }));
    expect(found).not.toContainEqual(expect.objectContaining({ from: 'src/clients/own.ts' }));
    expect(found).not.toContainEqual(expect.objectContaining({ from: 'src/gateway/s.spec.ts' }));
    expect(found).not.toContainEqual(expect.objectContaining({ from: 'src/verification/v.ts' }));

    // What npm run lint prints: non-zero exit, the rule, the file and the arrow's source in ARCHITECTURE.md.
    const { status, output } = lint(dir);
    expect(status).not.toBe(0);
    expect(output).toContain('gateway-may-import-only-config-common-database-audit: src/gateway/x.ts → src/issuance/y.ts');
    expect(output).toContain('ARCHITECTURE.md, module table, row `gateway`');
  });

  it('encodes every arrow of the "may import" column, and only those', () => {
    // One import from every module to every other: the lint must report exactly the arrows the table leaves out.
    const files: Record<string, string> = { 'migrations/index.ts': imports() };
    for (const m of MODULES) {
      files[`src/${m}/target.ts`] = 'export const x = 1;\n';
      for (const d of MODULES) if (d !== m) files[`src/${m}/to-${d}.ts`] = imports(`../${d}/target`);
    }
    const found = violations(fixture(files));

    const expected = MODULES.flatMap((m) =>
      MODULES.filter((d) => d !== m && !MAY_IMPORT[m].includes(d)).map((d) => ({ from: `src/${m}/to-${d}.ts`, to: `src/${d}/target.ts` })),
    );
    const key = (v: { from: string; to: string }) => `${v.from} → ${v.to}`;
    expect(found.map(key).sort()).toEqual(expected.map(key).sort());
    for (const v of found) expect(v.rule).toMatch(new RegExp(`^${v.from.split('/')[1]}-may-import-`));
  });

  it('allows no cycle between modules: every allowed arrow points down the table', () => {
    // The order of ARCHITECTURE.md's table, with throttling as a leaf beside health and metrics.
    const order = ['config', 'common', 'database', 'audit', 'clients', 'gateway', 'risk', 'issuance', 'verification', 'health', 'metrics', 'throttling'];
    for (const [m, deps] of Object.entries(MAY_IMPORT)) {
      for (const d of deps) expect({ m, d, down: order.indexOf(d) < order.indexOf(m) }).toEqual({ m, d, down: true });
    }
  });
});
