import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/**
 * ARCHITECTURE.md: "Each table has exactly one owner. Only the owner's repository touches it in SQL; every
 * other module goes through a method the owner exports."
 *
 * This reads every .ts file under src/ (specs aside) with the TypeScript parser, so comments never count,
 * takes the string and template literals that hold SQL, finds the tables they name (FROM, JOIN, INSERT INTO,
 * UPDATE, DELETE FROM, TRUNCATE, LOCK TABLE, REFERENCES, USING, ON of CREATE INDEX/TRIGGER, CREATE/ALTER/DROP
 * TABLE, sequences) and @Entity('table') decorators, and fails when a table is named outside its owner module,
 * or when a table has no owner at all (a new table needs a row in OWNERS and in ARCHITECTURE.md).
 */

/** Who owns which table (ARCHITECTURE.md's "owns (tables)" column, and every table the migrations create). */
const OWNERS: Record<string, string[]> = {
  database: ['schema_migrations'], // TypeORM's migration table (migrationsTableName)
  clients: ['api_clients', 'api_keys', 'client_test_numbers'],
  audit: ['audit_events', 'audit_chain', 'audit_chain_head', 'audit_checkpoints', 'audit_event_seq'],
  gateway: ['outbox', 'outbox_attempts', 'voice_calls', 'provider_send_windows'],
  risk: ['phone_sends', 'phone_check_failures', 'blocklist', 'voice_contract_checks', 'risk_unit_counts', 'risk_unit_days', 'risk_end_users', 'risk_number_accounts', 'risk_approvals', 'risk_suspensions'],
  issuance: ['verifications', 'idempotency_keys'],
};
/** Owned objects no migration creates: TypeORM makes its own migration table. */
const NOT_FROM_MIGRATIONS = new Set(['schema_migrations']);

const OWNER_OF = new Map(Object.entries(OWNERS).flatMap(([module, tables]) => tables.map((t) => [t, module] as const)));

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'src');
const MIGRATIONS = path.join(ROOT, 'migrations');

// ---------------------------------------------------------------------------------------------------------
// SQL: tokens, then the names in table position.

/** Stands for a `${…}` of a template literal: something the scanner cannot see into. */
const HOLE = '\uE000'; // a private-use character, never in real SQL

interface Token {
  kind: 'word' | 'quoted' | 'string' | 'param' | 'number' | 'hole' | 'punct';
  text: string;
  upper: string;
  at: number;
}

function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  const push = (kind: Token['kind'], text: string, at: number) => out.push({ kind, text, upper: text.toUpperCase(), at });
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const rest = sql.slice(i);
    let m: RegExpExecArray | null;
    if (/\s/.test(c)) {
      i++;
    } else if (rest.startsWith('--')) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
    } else if (rest.startsWith('/*')) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === HOLE) {
      push('hole', c, i++);
    } else if (c === "'") {
      let j = i + 1;
      while (j < sql.length && !(sql[j] === "'" && sql[j + 1] !== "'")) j += sql[j] === "'" ? 2 : 1;
      push('string', sql.slice(i + 1, j), i);
      i = j + 1;
    } else if (c === '"') {
      const end = sql.indexOf('"', i + 1);
      push('quoted', sql.slice(i + 1, end < 0 ? sql.length : end), i);
      i = end < 0 ? sql.length : end + 1;
    } else if ((m = /^\$\d+/.exec(rest))) {
      push('param', m[0], i);
      i += m[0].length;
    } else if ((m = /^\$(?:[A-Za-z_]\w*)?\$/.exec(rest))) {
      i += m[0].length; // a dollar quote: a function body is SQL too, so read on inside it
    } else if ((m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(rest))) {
      push('word', m[0], i);
      i += m[0].length;
    } else if ((m = /^\d+(\.\d+)?/.exec(rest))) {
      push('number', m[0], i);
      i += m[0].length;
    } else {
      push('punct', c, i++);
    }
  }
  return out;
}

/** Words that end a table reference (so they are never taken for a table or an alias). */
const KEYWORDS = new Set(
  ('ADD ALL ALTER AND ANY ARRAY AS ASC BEFORE AFTER BETWEEN BY CASCADE CASE CONFLICT CROSS DEFAULT DELETE DESC ' +
    'DISABLE DISTINCT DO DROP EACH ELSE ENABLE END EXCEPT EXECUTE EXISTS FALSE FETCH FOR FROM FULL GROUP HAVING IF ' +
    'IN INNER INSERT INSTEAD INTERSECT INTO IS JOIN KEY LATERAL LEFT LIKE ILIKE LIMIT LOCK LOCKED MODE NATURAL NO ' +
    'NOT NOTHING NOWAIT NULL OF OFFSET ON ONLY OR ORDER OUTER OWNER RENAME RESTRICT RETURNING RIGHT ROW SELECT SET ' +
    'SHARE SKIP TABLE TABLESAMPLE THEN TRUE UNION UPDATE USING VALUES WHEN WHERE WINDOW WITH').split(' '),
);
/** FROM inside these calls is not a table: extract(epoch FROM x), substring(s FROM 2), trim(both FROM s)… */
const FROM_IN_CALL = new Set(['extract', 'substring', 'substr', 'trim', 'overlay', 'position', 'normalize']);
const SYSTEM_SCHEMAS = new Set(['pg_catalog', 'information_schema', 'pg_temp']);
const SEQUENCE_FUNCTIONS = new Set(['nextval', 'setval', 'currval']);

interface SqlTable {
  table: string;
  /** offset in the SQL text */
  at: number;
}

/** The tables a piece of SQL names. */
function tablesInSql(sql: string): SqlTable[] {
  const toks = tokenize(sql);
  const found: SqlTable[] = [];
  const isName = (t?: Token) => !!t && (t.kind === 'quoted' || (t.kind === 'word' && !KEYWORDS.has(t.upper)));
  const kw = (t: Token | undefined, ...words: string[]) => !!t && t.kind === 'word' && words.includes(t.upper);
  const punct = (t: Token | undefined, p: string) => !!t && t.kind === 'punct' && t.text === p;
  const skipParens = (j: number) => {
    for (let depth = 0; j < toks.length; j++) {
      if (punct(toks[j], '(')) depth++;
      else if (punct(toks[j], ')') && --depth === 0) return j + 1;
    }
    return j;
  };

  // Names of common table expressions (WITH k AS (…) … FROM k) are not tables.
  const ctes = new Set<string>();
  toks.forEach((t, i) => {
    if (!isName(t) || !(kw(toks[i - 1], 'WITH', 'RECURSIVE') || punct(toks[i - 1], ','))) return;
    let j = i + 1;
    if (punct(toks[j], '(')) j = skipParens(j);
    if (!kw(toks[j++], 'AS')) return;
    if (kw(toks[j], 'NOT')) j++;
    if (kw(toks[j], 'MATERIALIZED')) j++;
    if (punct(toks[j], '(')) ctes.add(t.text.toLowerCase());
  });

  const emit = (name: string, at: number) => {
    if (!name.startsWith('pg_') && !ctes.has(name)) found.push({ table: name, at });
  };
  const skipAlias = (j: number) => {
    if (kw(toks[j], 'AS')) j++;
    if (isName(toks[j])) {
      j++;
      if (punct(toks[j], '(')) j = skipParens(j); // column aliases
    }
    return j;
  };
  /**
   * One table reference at j (a table, a subquery, a `${…}`, in FROM/JOIN also a function call: unnest(…));
   * returns the index after it and its alias.
   */
  const readRef = (j: number, callable = false): number => {
    while (kw(toks[j], 'ONLY', 'LATERAL', 'IF', 'NOT', 'EXISTS')) j++;
    const t = toks[j];
    if (!t) return j;
    if (punct(t, '(')) return skipAlias(skipParens(j));
    if (t.kind === 'hole') return skipAlias(j + 1);
    if (!isName(t)) return j;
    let name = t.text.toLowerCase();
    let schema: string | undefined;
    j++;
    if (punct(toks[j], '.') && (toks[j + 1]?.kind === 'word' || toks[j + 1]?.kind === 'quoted')) {
      schema = name;
      name = toks[j + 1].text.toLowerCase();
      j += 2;
    }
    if (callable && punct(toks[j], '(')) return skipAlias(skipParens(j)); // a function: unnest(…), generate_series(…)
    if (!schema || schema === 'public') emit(name, t.at);
    else if (!SYSTEM_SCHEMAS.has(schema)) emit(`${schema}.${name}`, t.at);
    return skipAlias(j);
  };
  const readList = (j: number, callable = false) => {
    j = readRef(j, callable);
    while (punct(toks[j], ',')) j = readRef(j + 1, callable);
    return j;
  };

  let head: string[] = []; // the first words of the current statement
  let onNamesTable = false; // CREATE INDEX/TRIGGER/POLICY/RULE: the next ON names the table
  const calls: Array<string | null> = []; // for each open parenthesis, the word before it
  toks.forEach((t, i) => {
    const prev = toks[i - 1];
    if (punct(t, ';')) {
      head = [];
      onNamesTable = false;
      return;
    }
    if (punct(t, '(')) {
      calls.push(prev?.kind === 'word' ? prev.text.toLowerCase() : null);
      return;
    }
    if (punct(t, ')')) {
      calls.pop();
      return;
    }
    if (t.kind !== 'word') return;
    if (head.length < 6) {
      head.push(t.upper);
      if (/^CREATE (OR REPLACE )?(UNIQUE )?(CONSTRAINT )?(INDEX|TRIGGER|POLICY|RULE)$/.test(head.join(' '))) onNamesTable = true;
    }
    const lower = t.text.toLowerCase();
    switch (t.upper) {
      case 'FROM':
        if (kw(prev, 'DISTINCT')) return; // a IS [NOT] DISTINCT FROM b
        if (FROM_IN_CALL.has(calls[calls.length - 1] ?? '')) return;
        if (head[0] === 'FETCH' || head[0] === 'MOVE') return; // FETCH n FROM cursor
        readList(i + 1, true);
        return;
      case 'JOIN':
        readRef(i + 1, true);
        return;
      case 'REFERENCES':
        readRef(i + 1);
        return;
      case 'INTO':
        if (kw(prev, 'INSERT', 'MERGE')) readRef(i + 1); // not SELECT … INTO variable
        return;
      case 'UPDATE':
        // not FOR [NO KEY] UPDATE, ON CONFLICT DO UPDATE, ON UPDATE CASCADE, trigger events (INSERT OR UPDATE …)
        if (!kw(prev, 'FOR', 'KEY', 'DO', 'OR', 'BEFORE', 'AFTER', 'OF', 'ON', 'INSTEAD')) readRef(i + 1);
        return;
      case 'TRUNCATE':
        readList(kw(toks[i + 1], 'TABLE') ? i + 2 : i + 1);
        return;
      case 'LOCK':
        if (head.length === 1) readList(kw(toks[i + 1], 'TABLE') ? i + 2 : i + 1);
        return;
      case 'TABLE':
      case 'SEQUENCE':
        if (kw(prev, 'CREATE', 'ALTER', 'DROP', 'TEMP', 'TEMPORARY', 'UNLOGGED') || (kw(prev, 'ON') && kw(toks[i - 2], 'COMMENT'))) readList(i + 1);
        return;
      case 'ON':
        if (onNamesTable) {
          onNamesTable = false;
          readRef(i + 1);
        }
        return;
      case 'USING':
        if (head[0] === 'DELETE' || head[0] === 'MERGE') readRef(i + 1, true);
        return;
      default:
        // nextval('audit_event_seq')
        if (SEQUENCE_FUNCTIONS.has(lower) && punct(toks[i + 1], '(') && toks[i + 2]?.kind === 'string') {
          emit(toks[i + 2].text.toLowerCase().replace(/^public\./, ''), toks[i + 2].at);
        }
    }
  });
  return found;
}

/** A string that holds SQL: it starts with a statement, or has an SQL clause in capitals (a fragment). */
function looksLikeSql(text: string): boolean {
  return (
    /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|LOCK|TRUNCATE|CREATE|ALTER|DROP|DECLARE|FETCH|MOVE|MERGE|COPY|TABLE|VALUES|EXPLAIN)\b/i.test(text) ||
    /\b(FROM|JOIN|INTO|UPDATE|TRUNCATE|REFERENCES|LOCK TABLE)\s+("|[A-Za-z_]|\uE000)/.test(text)
  );
}

// ---------------------------------------------------------------------------------------------------------
// TypeScript: the literals (never the comments) and the @Entity decorators of a file.

interface TableUse {
  table: string;
  line: number;
  via: 'sql' | 'entity';
}

/** Every table a TypeScript source names in SQL literals or @Entity(…). Lines are 1-based. */
function tablesInSource(fileName: string, text: string): TableUse[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const uses: TableUse[] = [];
  const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1;

  /** parts: the literal pieces with the source position where each one's text starts. */
  const scan = (parts: Array<{ text: string; pos: number }>) => {
    let sql = '';
    const starts: number[] = [];
    parts.forEach((p, k) => {
      if (k > 0) sql += HOLE;
      starts.push(sql.length);
      sql += p.text;
    });
    if (!looksLikeSql(sql)) return;
    for (const { table, at } of tablesInSql(sql)) {
      let k = starts.length - 1;
      while (k > 0 && starts[k] > at) k--;
      const before = sql.slice(starts[k], at);
      uses.push({ table, line: lineOf(parts[k].pos) + (before.match(/\n/g)?.length ?? 0), via: 'sql' });
    }
  };

  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      scan([{ text: node.text, pos: node.getStart(sf) }]);
      return;
    }
    if (ts.isTemplateExpression(node)) {
      scan([
        { text: node.head.text, pos: node.head.getStart(sf) },
        ...node.templateSpans.map((s) => ({ text: s.literal.text, pos: s.literal.getStart(sf) })),
      ]);
      for (const span of node.templateSpans) visit(span.expression);
      return;
    }
    if (ts.isDecorator(node) && ts.isCallExpression(node.expression) && ts.isIdentifier(node.expression.expression) && node.expression.expression.text === 'Entity') {
      const [arg] = node.expression.arguments;
      let name: ts.Node | undefined = arg;
      if (arg && ts.isObjectLiteralExpression(arg)) {
        const prop = arg.properties.find((p) => ts.isPropertyAssignment(p) && p.name.getText(sf) === 'name');
        name = prop && ts.isPropertyAssignment(prop) ? prop.initializer : undefined;
      }
      if (name && ts.isStringLiteralLike(name)) uses.push({ table: name.text.toLowerCase(), line: lineOf(name.getStart(sf)), via: 'entity' });
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return uses;
}

// ---------------------------------------------------------------------------------------------------------
// The check.

/** The module of a file under src/: its top-level folder (files directly in src/ are composition roots). */
function moduleOf(relFromSrc: string): string {
  const parts = relFromSrc.split(path.sep);
  return parts.length > 1 ? parts[0] : '(composition root)';
}

/** What is wrong with these uses in this module, one line each: file:line, table, owner. */
function ownershipProblems(file: string, module: string, uses: TableUse[]): string[] {
  const problems: string[] = [];
  for (const u of uses) {
    const owner = OWNER_OF.get(u.table);
    const where = `${file}:${u.line}`;
    const how = u.via === 'entity' ? '@Entity' : 'SQL';
    if (!owner) problems.push(`${where}  ${u.table}  has no owner (${how} in ${module}): add it to OWNERS here and to ARCHITECTURE.md`);
    else if (owner !== module) {
      const fix = u.via === 'entity' ? `move the entity into ${owner}` : `go through a method the ${owner} module exports`;
      problems.push(`${where}  ${u.table}  owned by ${owner}, named in ${how} in ${module}: ${fix}`);
    }
  }
  return problems;
}

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.isFile() && p.endsWith('.ts') && !/\.(spec|e2e-spec)\.ts$/.test(p) ? [p] : [];
  });
}

/** Tables and sequences the migrations create. */
function createdByMigrations(): Map<string, string> {
  const created = new Map<string, string>();
  for (const file of tsFiles(MIGRATIONS)) {
    const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      let sql: string | undefined;
      if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) sql = node.text;
      else if (ts.isTemplateExpression(node)) sql = [node.head.text, ...node.templateSpans.map((s) => s.literal.text)].join(HOLE);
      for (const m of sql?.matchAll(/\bCREATE\s+(?:UNLOGGED\s+)?(?:TABLE|SEQUENCE)\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:public\.)?"?([A-Za-z_][A-Za-z0-9_]*)/gi) ?? []) {
        created.set(m[1].toLowerCase(), path.relative(ROOT, file));
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return created;
}

describe('SQL names a table only in its owner module (ARCHITECTURE.md: "Each table has exactly one owner")', () => {
  it('src/: every table named in SQL or @Entity is named in its owner module, and every table has an owner', () => {
    const problems = tsFiles(SRC).flatMap((file) => {
      const rel = path.relative(SRC, file);
      return ownershipProblems(path.relative(ROOT, file), moduleOf(rel), tablesInSource(file, fs.readFileSync(file, 'utf8')));
    });
    if (problems.length) throw new Error(`${problems.length} table use(s) outside the owner module:\n${problems.join('\n')}`);
  });

  it('every table and sequence the migrations create has an owner, and every owned table exists', () => {
    const created = createdByMigrations();
    const unowned = [...created].filter(([t]) => !OWNER_OF.has(t)).map(([t, file]) => `${t} (created in ${file})`);
    expect(unowned).toEqual([]);
    const missing = [...OWNER_OF.keys()].filter((t) => !created.has(t) && !NOT_FROM_MIGRATIONS.has(t));
    expect(missing).toEqual([]);
  });
});

describe('the SQL scanner', () => {
  const tables = (sql: string) => tablesInSql(sql).map((t) => t.table);
  const inModule = (module: string, source: string) => ownershipProblems(`src/${module}/x.ts`, module, tablesInSource('x.ts', source));

  it('finds the table of each kind of statement', () => {
    expect(tables(`SELECT a FROM outbox o WHERE o.id = $1`)).toEqual(['outbox']);
    expect(tables(`SELECT * FROM api_keys k JOIN api_clients c ON c.id = k.client_id LEFT JOIN audit_events e ON true`)).toEqual(['api_keys', 'api_clients', 'audit_events']);
    expect(tables(`INSERT INTO phone_sends (phone_e164) VALUES ($1) ON CONFLICT DO UPDATE SET x = 1 RETURNING *`)).toEqual(['phone_sends']);
    expect(tables(`UPDATE verifications AS v SET status = 'expired' FROM outbox WHERE v.id = outbox.verification_id`)).toEqual(['verifications', 'outbox']);
    expect(tables(`DELETE FROM idempotency_keys WHERE created_at < $1`)).toEqual(['idempotency_keys']);
    expect(tables(`TRUNCATE TABLE outbox, outbox_attempts CASCADE`)).toEqual(['outbox', 'outbox_attempts']);
    expect(tables(`LOCK TABLE audit_chain_head IN EXCLUSIVE MODE`)).toEqual(['audit_chain_head']);
    expect(tables(`CREATE TABLE api_keys (client_id text REFERENCES api_clients(id) ON DELETE CASCADE ON UPDATE CASCADE)`)).toEqual(['api_keys', 'api_clients']);
    expect(tables(`CREATE UNIQUE INDEX outbox_due_idx ON outbox (next_attempt_at)`)).toEqual(['outbox']);
    expect(tables(`CREATE TRIGGER t BEFORE INSERT OR UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION f()`)).toEqual(['audit_events']);
    expect(tables(`SELECT * FROM public.outbox, "api_keys" k`)).toEqual(['outbox', 'api_keys']);
    expect(tables(`SELECT nextval('audit_event_seq')`)).toEqual(['audit_event_seq']);
    expect(tables(`SELECT 1; UPDATE outbox SET a = 1`)).toEqual(['outbox']);
  });

  it('does not take for tables what only looks like one', () => {
    expect(tables(`SELECT id FROM verifications WHERE status = 'pending' ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`)).toEqual(['verifications']);
    expect(tables(`WITH k AS (SELECT id FROM api_keys) UPDATE api_keys SET x = 1 WHERE id IN (SELECT id FROM k)`)).toEqual(['api_keys', 'api_keys']);
    expect(tables(`INSERT INTO audit_chain (seq) SELECT * FROM unnest($1::bigint[])`)).toEqual(['audit_chain']);
    expect(tables(`SELECT extract(epoch FROM expires_at - now()), a IS DISTINCT FROM b, substring(s FROM 2) FROM outbox`)).toEqual(['outbox']);
    expect(tables(`SELECT max(seq) FROM (SELECT seq FROM audit_chain) AS part`)).toEqual(['audit_chain']);
    expect(tables(`FETCH FORWARD 100 FROM audit_walk`)).toEqual([]);
    expect(tables(`SELECT * FROM pg_locks, pg_catalog.pg_class, information_schema.tables`)).toEqual([]);
    expect(tables(`SELECT 'UPDATE outbox' AS s, x -- FROM outbox\n /* JOIN outbox */ FROM ${HOLE} WHERE true`)).toEqual([]);
    expect(tables(`SELECT pg_try_advisory_xact_lock($1) AS locked`)).toEqual([]);
  });

  it('reports a table named in SQL outside its owner, with file:line, table and owner', () => {
    const source = [
      'const a = 1;',
      'await m.query(',
      '  `UPDATE outbox SET status = ${p(s)}',
      '    WHERE id IN (SELECT id FROM outbox_attempts)`);',
    ].join('\n');
    expect(inModule('issuance', source)).toEqual([
      "src/issuance/x.ts:3  outbox  owned by gateway, named in SQL in issuance: go through a method the gateway module exports",
      "src/issuance/x.ts:4  outbox_attempts  owned by gateway, named in SQL in issuance: go through a method the gateway module exports",
    ]);
    expect(inModule('gateway', source)).toEqual([]);
    expect(inModule('verification', `const q = 'SELECT webhook_secret FROM api_clients WHERE id = $1';`)).toEqual([
      "src/verification/x.ts:1  api_clients  owned by clients, named in SQL in verification: go through a method the clients module exports",
    ]);
  });

  it('reads neither comments nor prose', () => {
    const source = [
      '// read the row from outbox, then UPDATE outbox',
      '/* INSERT INTO outbox … DELETE FROM api_clients */',
      '/** Checks run FROM verifications JOIN outbox. */',
      "throw new Error('could not read from outbox or join api_clients');",
      "const label = `reading from ${table} into verifications`;",
    ].join('\n');
    expect(inModule('audit', source)).toEqual([]);
  });

  it('reports a table with no owner, and an @Entity outside its owner', () => {
    expect(inModule('risk', "await m.query('SELECT * FROM number_bans WHERE number = $1');")).toEqual([
      'src/risk/x.ts:1  number_bans  has no owner (SQL in risk): add it to OWNERS here and to ARCHITECTURE.md',
    ]);
    expect(inModule('database', "@Entity('api_keys')\nexport class K {}")).toEqual([
      "src/database/x.ts:1  api_keys  owned by clients, named in @Entity in database: move the entity into clients",
    ]);
    expect(inModule('clients', "@Entity({ name: 'api_keys' })\nexport class K {}")).toEqual([]);
  });
});
