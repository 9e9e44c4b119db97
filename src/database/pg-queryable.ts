import type { QueryResult } from 'pg';
import { QueryFailedError } from 'typeorm';
import type { Queryable } from '../common/tx';

/**
 * SQL run straight on node-postgres: on the pool (a connection for the one statement) or on a connection checked
 * out for a transaction. It answers as TypeORM's `query()` does (rows; `[rows, rowCount]` for UPDATE and DELETE;
 * failures as QueryFailedError with the driver's error in `driverError`), without TypeORM's query runner: its
 * before/after broadcasts, timing and result objects cost each statement several promises and allocations, and the
 * hot paths run 8 statements a request.
 */
export class PgQueryable implements Queryable {
  constructor(private readonly connection: { query(sql: string, params?: unknown[]): Promise<QueryResult> }) {}

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query(sql: string, params?: unknown[]): Promise<any> {
    return this.connection.query(sql, params).then(rowsOf, (err: Error) => {
      throw new QueryFailedError(sql, params, err);
    });
  }
}

function rowsOf(result: QueryResult): unknown {
  return result.command === 'UPDATE' || result.command === 'DELETE' ? [result.rows, result.rowCount] : result.rows;
}
