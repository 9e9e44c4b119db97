// The service's statements run as named prepared statements (DATABASE_PREPARED_STATEMENTS, default true): each
// connection parses them once, and the start's read after its locks runs on its generic plan (planning it for each
// start's values cost PostgreSQL about 1 ms a start). Off (behind a pooler that cannot keep prepared statements),
// everything runs unnamed and works the same. With a pool of one connection, pg_prepared_statements read through
// the service's own pool shows that connection's statements. A statement whose result is a `*` runs unnamed, so
// the hot ones name their columns.
import { Transactions } from '../src/database/transactions';
import { codeSentTo } from './support/scenario';
import { SmsStack, startSmsStack } from './support/stack';

describe.each([
  ['on (the default)', {}, true],
  ['off', { DATABASE_PREPARED_STATEMENTS: 'false' }, false],
])('prepared statements %s', (_label, env: Record<string, string>, prepared) => {
  let s: SmsStack;
  beforeAll(async () => {
    s = await startSmsStack({ env: { DATABASE_POOL_SIZE: '1', HOUSEKEEPING_ENABLED: 'false', ...env } });
  });
  afterAll(async () => s?.close());

  it('starts and checks work; the start read is prepared and planned generically only when on', async () => {
    const c = await s.t.createClient(['verifications:write', 'verifications:check']);
    for (let i = 0; i < 3; i++) {
      const phone = `+8190555500${i}0`;
      const v = await s.t.request('POST', '/v1/verifications', { key: c.key, body: { phoneNumber: phone, purpose: 'login' } });
      expect(v.status).toBe(201);
      const code = await codeSentTo(s.sms, phone);
      expect((await s.t.request('POST', `/v1/verifications/${v.body.id}/check`, { key: c.key, body: { code } })).body).toMatchObject({ status: 'approved', valid: true });
    }
    const rows = await s.apps[0].app
      .get(Transactions)
      .run((tx) => tx.query(`SELECT name, statement, generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name LIKE 'otp_%'`));
    const startRead = (rows as Array<{ statement: string; generic: number; custom: number }>).filter((r) => r.statement.includes('AS blocklist'));
    if (prepared) {
      expect(startRead).toEqual([expect.objectContaining({ generic: 3, custom: 0 })]);
      // the check's statements too (its read of the number's wrong codes); not a statement whose result is a *
      expect(rows.some((r: { statement: string }) => r.statement.startsWith('SELECT failed_at FROM phone_check_failures'))).toBe(true);
      expect(rows.filter((r: { statement: string }) => /SELECT \*|RETURNING \*/.test(r.statement))).toEqual([]);
      // the verification's own statements, which name their columns: the start's supersede, the check's read and update
      const statements = (rows as Array<{ statement: string }>).map((r) => r.statement);
      for (const text of [`UPDATE verifications v SET status = 'canceled'`, 'FROM verifications WHERE id = $1 AND client_id = $2', `SET status = CASE WHEN $3 THEN 'approved'`]) {
        expect(statements.filter((st) => st.includes(text))).toHaveLength(1);
      }
    } else {
      expect(rows).toEqual([]);
    }
  });
});
