/** Collects bind parameters while SQL is composed: `p(value)` returns its placeholder ($1, $2…). */
export class SqlParams {
  readonly values: unknown[] = [];
  readonly p = (value: unknown): string => {
    this.values.push(value);
    return `$${this.values.length}`;
  };
}

/** How many distinct SQL texts get a name (prepareable); past this, a text runs unnamed (parsed and planned each time). */
const MAX_NAMED = 200;
/** Each text seen (at most 1,000): its name, or null when it runs unnamed (decided once, not at every execution). */
const names = new Map<string, string | null>();
let namedCount = 0;
/** A `*` that expands to a table's columns in a result (`SELECT *`, `RETURNING *`, `, v.*`); not `count(*)`. */
const STAR_RESULT = /(?:SELECT|RETURNING|DISTINCT|,)\s+(?:\w+\.)?\*/i;

/**
 * A SQL text as a named statement for node-postgres (`{ name, text }`): each connection parses it once and PostgreSQL
 * keeps its plan (its plan cache picks a generic plan once that is no dearer than planning each time), so a hot
 * statement is not parsed and planned again on every execution: the start's read after its locks took ~2 ms of
 * planning per start before. Every text the code composes is parameterized (values go through SqlParams), so
 * the names stay few; MAX_NAMED bounds them all the same, in case a text ever carries a value.
 * A statement whose result is a `*` (`SELECT *`, `RETURNING v.*`) runs unnamed: a migration that adds a column
 * while an older instance still runs would change its result, and PostgreSQL refuses a prepared statement whose
 * result changed ("cached plan must not change result type") until the connection closes.
 */
export function named(sql: string): { name: string; text: string } | string {
  let name = names.get(sql);
  if (name === undefined) {
    name = STAR_RESULT.test(sql) || namedCount >= MAX_NAMED ? null : `otp_${++namedCount}`;
    if (names.size < 1000) names.set(sql, name);
  }
  // a fresh config each time: node-postgres writes the values into it
  return name === null ? sql : { name, text: sql };
}

/**
 * Several data-modifying statements as one, through CTEs: one round trip instead of one each, and
 * atomic on its own. The last statement is the main one; the others run as `WITH wN AS (…)`.
 * Row locks are taken in the reverse order: the main statement first, then the CTEs from last to first (one that
 * another part reads runs when it is read). So two transactions that lock the same rows in combined statements
 * must defer those writes in the same order, or they can deadlock.
 */
export function combineStatements(statements: string[]): string {
  const last = statements[statements.length - 1];
  const ctes = statements.slice(0, -1).map((sql, i) => `w${i} AS (${sql})`);
  return ctes.length ? `WITH ${ctes.join(', ')} ${last}` : last;
}
