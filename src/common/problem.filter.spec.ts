import { QueryFailedError } from 'typeorm';
import { isTransactionConflict, toProblem } from './problem.filter';

/** A TypeORM error wrapping a node-postgres error with the given SQLSTATE, as the repositories see them. */
function queryFailed(code: string): QueryFailedError {
  return new QueryFailedError('UPDATE verifications SET attempts = attempts + 1 WHERE id = $1', ['v_1'], Object.assign(new Error('pg error'), { code }));
}

describe('toProblem for transactions rolled back by concurrent ones', () => {
  it.each([
    ['40P01', 'deadlock_detected'],
    ['40001', 'serialization_failure'],
    ['55P03', 'lock_not_available'],
  ])('%s (%s): 503 service_unavailable with Retry-After: 1', (code) => {
    expect(isTransactionConflict(queryFailed(code))).toBe(true);
    const problem = toProblem(queryFailed(code));
    expect([problem?.status, problem?.code, problem?.extra.headers]).toEqual([503, 'service_unavailable', { 'Retry-After': '1' }]);
  });

  it('also when the driver error is the cause of another error', () => {
    expect(isTransactionConflict(new Error('fold failed', { cause: queryFailed('40P01') }))).toBe(true);
  });

  it('a statement that is wrong (unique violation, syntax) is not a conflict and stays a 500', () => {
    for (const code of ['23505', '42601', '22P02']) {
      expect(isTransactionConflict(queryFailed(code))).toBe(false);
      expect(toProblem(queryFailed(code))).toBeUndefined();
    }
  });

  it('the database being down keeps its own answer, Retry-After: 5', () => {
    expect(toProblem(queryFailed('57P01'))?.extra.headers).toEqual({ 'Retry-After': '5' });
  });
});
