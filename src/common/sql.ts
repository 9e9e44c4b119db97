/** Collects bind parameters while SQL is composed: `p(value)` returns its placeholder ($1, $2…). */
export class SqlParams {
  readonly values: unknown[] = [];
  readonly p = (value: unknown): string => {
    this.values.push(value);
    return `$${this.values.length}`;
  };
}

/**
 * Several data-modifying statements as one, through CTEs: one round trip instead of one each, and
 * atomic on its own. The last statement is the main one; the others run as `WITH wN AS (…)`.
 */
export function combineStatements(statements: string[]): string {
  const last = statements[statements.length - 1];
  const ctes = statements.slice(0, -1).map((sql, i) => `w${i} AS (${sql})`);
  return ctes.length ? `WITH ${ctes.join(', ')} ${last}` : last;
}
