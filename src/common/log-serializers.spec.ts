import { QueryFailedError } from 'typeorm';
import { safeErrorSerializer } from './log-serializers';

describe('safeErrorSerializer', () => {
  it('keeps what helps (type, message, stack, SQL text, code) and drops bind values and driver details', () => {
    const driver = Object.assign(new Error('duplicate key value violates unique constraint "api_clients_name_key"'), {
      code: '23505',
      detail: 'Key (name)=(payments) already exists.',
      where: 'SQL function',
    });
    const err = new QueryFailedError('INSERT INTO api_clients (name, webhook_secret) VALUES ($1, $2)', ['payments', 'whsec_TOPSECRET'], driver);
    const out = safeErrorSerializer(err);
    const text = JSON.stringify(out);
    expect(out).toMatchObject({ type: 'QueryFailedError', message: expect.stringContaining('duplicate key'), code: '23505' });
    expect(out.query).toContain('INSERT INTO api_clients');
    expect(text).not.toContain('whsec_TOPSECRET');
    expect(text).not.toContain('Key (name)=(payments)');
    expect(out.parameters).toBeUndefined();
    expect(out.driverError).toBeUndefined();
  });

  it('cleans a wrapped cause too', () => {
    const inner = Object.assign(new Error('inner'), { parameters: ['+819012345678'] });
    const outer = new Error('outer', { cause: inner });
    expect(JSON.stringify(safeErrorSerializer(outer))).not.toContain('+819012345678');
  });
});
