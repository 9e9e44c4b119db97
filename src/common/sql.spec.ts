import { combineStatements, named, SqlParams } from './sql';

describe('named statements', () => {
  it('one name per SQL text, the same every time it comes back; another text, another name', () => {
    const a = named('SELECT 1 WHERE $1::int > 0');
    const b = named('SELECT 2 WHERE $1::int > 0');
    expect(a).toEqual({ name: expect.stringMatching(/^otp_\d+$/), text: 'SELECT 1 WHERE $1::int > 0' });
    expect(named('SELECT 1 WHERE $1::int > 0')).toEqual(a);
    expect(typeof b === 'object' && typeof a === 'object' && b.name !== a.name).toBe(true);
  });

  it('a statement whose result is a * runs unnamed (a migration adding a column would break its prepared form); count(*) is no such *', () => {
    expect(named('SELECT * FROM verifications WHERE id = $1')).toBe('SELECT * FROM verifications WHERE id = $1');
    expect(named('UPDATE v SET a = 1 WHERE id = $1 RETURNING *')).toBe('UPDATE v SET a = 1 WHERE id = $1 RETURNING *');
    expect(named('UPDATE v SET a = 1 FROM p WHERE v.id = p.id RETURNING v.*, p.status')).toBe('UPDATE v SET a = 1 FROM p WHERE v.id = p.id RETURNING v.*, p.status');
    expect(named('SELECT count(*) AS n FROM t WHERE a = $1')).toEqual({ name: expect.any(String), text: 'SELECT count(*) AS n FROM t WHERE a = $1' });
  });

  it('texts of the same length are told apart; a text built anew finds the name of the same text seen before', () => {
    const a = named('SELECT 7 WHERE $1::int > 0');
    const b = named('SELECT 8 WHERE $1::int > 0');
    const c = named('SELECT 9 WHERE $1::int > 0');
    const names = [a, b, c].map((n) => (typeof n === 'object' ? n.name : n));
    expect(new Set(names).size).toBe(3);
    for (const [i, digit] of ['7', '8', '9'].entries()) {
      const built = ['SELECT ', digit, ' WHERE $1::int > 0'].join('');
      expect(named(built)).toEqual({ name: names[i], text: built });
    }
  });

  it('a combined statement is named by its whole text', () => {
    const p = new SqlParams();
    const sql = combineStatements([`INSERT INTO t VALUES (${p.p(1)})`, `INSERT INTO u VALUES (${p.p(2)})`]);
    expect(named(sql)).toEqual({ name: expect.any(String), text: 'WITH w0 AS (INSERT INTO t VALUES ($1)) INSERT INTO u VALUES ($2)' });
  });

  it('past 200 texts, new ones run unnamed (a text that carried a value would not fill the server with prepared statements)', () => {
    for (let i = 0; i < 300; i++) named(`SELECT ${i} AS filler`);
    expect(named('SELECT 1000 AS late')).toBe('SELECT 1000 AS late');
    // the ones named before keep their names
    expect(named('SELECT 1 WHERE $1::int > 0')).toEqual(expect.objectContaining({ text: 'SELECT 1 WHERE $1::int > 0' }));
  });
});
