import { Tx } from './tx';

/** A connection that records what it was sent, in order. */
function recording(fail?: Error) {
  const sent: Array<{ sql: string; params?: unknown[] }> = [];
  const connection = {
    query(sql: string, params?: unknown[]): Promise<unknown> {
      if (fail) throw fail;
      sent.push({ sql, params });
      return Promise.resolve([]);
    },
  };
  return { sent, connection };
}

describe('Tx.query', () => {
  it('runs the deferred writes first, as one statement, then the query', async () => {
    const { sent, connection } = recording();
    const tx = new Tx(connection);
    tx.defer((p) => `INSERT INTO a VALUES (${p(1)})`);
    tx.defer((p) => `INSERT INTO b VALUES (${p(2)})`);
    await tx.query('SELECT 3');
    await tx.query('SELECT 4', [4]);
    expect(sent).toEqual([
      { sql: 'WITH w0 AS (INSERT INTO a VALUES ($1)) INSERT INTO b VALUES ($2)', params: [1, 2] },
      { sql: 'SELECT 3', params: undefined },
      { sql: 'SELECT 4', params: [4] },
    ]);
  });

  it('a connection that throws at once gives a rejected promise, with or without deferred writes', async () => {
    const err = new Error('Driver not Connected');
    const tx = new Tx(recording(err).connection, 'reader');
    const returned = tx.query('SELECT 1');
    expect(returned).toBeInstanceOf(Promise);
    await expect(returned).rejects.toBe(err);

    const inTx = new Tx(recording(err).connection);
    inTx.defer(() => 'INSERT INTO a DEFAULT VALUES');
    await expect(inTx.query('SELECT 1')).rejects.toBe(err);
  });
});
