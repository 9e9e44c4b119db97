/** `$1`, `$2`…, each made once: a start binds over a hundred values, and making each text anew showed in its profile. */
const PLACEHOLDERS: string[] = [];

/** Collects bind parameters while SQL is composed: `p(value)` returns its placeholder ($1, $2…). */
export class SqlParams {
  readonly values: unknown[] = [];
  readonly p = (value: unknown): string => {
    const n = this.values.push(value);
    return (PLACEHOLDERS[n] ??= `$${n}`);
  };
}

/** How many distinct SQL texts get a name (prepareable); past this, a text runs unnamed (parsed and planned each time). */
const MAX_NAMED = 200;
/**
 * Each text seen (at most 1,000), by its length: its name, or null when it runs unnamed (decided once, not at every
 * execution). Found by length and then compared, not hashed: a statement combined from deferred writes is a new
 * string at every flush, and a Map keyed by the text hashed all of its few KB each time (about 1.5 % of a check's
 * instructions: docs/performance-log.md); comparing it with the one stored text of that length costs a fraction of that.
 */
const byLength = new Map<number, Array<{ text: string; name: string | null }>>();
let seen = 0;
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
  const sameLength = byLength.get(sql.length);
  let entry = sameLength?.find((e) => e.text === sql);
  if (!entry) {
    entry = { text: sql, name: STAR_RESULT.test(sql) || namedCount >= MAX_NAMED ? null : `otp_${++namedCount}` };
    if (seen < 1000) {
      seen++;
      if (sameLength) sameLength.push(entry);
      else byLength.set(sql.length, [entry]);
    }
  }
  // a fresh config each time (node-postgres writes the values into it), with the stored text: node-postgres compares
  // it with the text it prepared under that name, the same string then
  return entry.name === null ? sql : { name: entry.name, text: entry.text };
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
