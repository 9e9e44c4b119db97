import type { Principal } from '../common/auth';
import type { Queryable } from '../common/tx';
import { TestNumbersRepository } from './test-numbers.repository';
import { TestNumbersService } from './test-numbers.service';

const principal = (testNumbers: boolean | undefined): Principal => ({
  clientId: 'cli_A', clientName: 'a', keyId: 'key_A', scopes: ['verifications:write'], maxCheckAttempts: null, requestsPerMinute: null, countries: null,
  numberTypes: null, voiceContract: null, pumping: null, webhookUrl: null, testNumbers,
});

describe('TestNumbersService.match: the lookup a start makes', () => {
  const queries: string[] = [];
  const q: Queryable = {
    query: async (sql: string) => {
      queries.push(sql);
      return [];
    },
  };
  const stored = { id: 'tst_1', clientId: 'cli_A', phoneE164: '+819000000001', code: null, deliveryStatus: 'delivered', ivrOutcome: 'busy', createdAt: new Date(), createdBy: null };
  const repo = new TestNumbersRepository();
  const sut = new TestNumbersService(undefined as never, repo, undefined as never, undefined as never, undefined as never, undefined as never, undefined as never);
  beforeEach(() => (queries.length = 0));

  it('a client without test numbers (or not allowed them here) costs no query', async () => {
    expect(await sut.match(q, principal(false), '+819000000001', undefined)).toBeUndefined();
    expect(await sut.match(q, principal(undefined), '+819000000001', 6)).toBeUndefined();
    expect(queries).toEqual([]);
  });

  it('a client with some: one lookup; the default code follows codeLength, a fixed one is itself', async () => {
    const find = jest.spyOn(repo, 'find').mockResolvedValueOnce(stored as never).mockResolvedValueOnce({ ...stored, code: '9876' } as never).mockResolvedValueOnce(undefined);
    expect(await sut.match(q, principal(true), '+819000000001', 8)).toEqual({ testNumberId: 'tst_1', deliveryStatus: 'delivered', ivrOutcome: 'busy', code: '12345678' });
    expect(await sut.match(q, principal(true), '+819000000001', undefined)).toMatchObject({ code: '9876' });
    expect(await sut.match(q, principal(true), '+819012345678', undefined)).toBeUndefined();
    expect(find).toHaveBeenCalledTimes(3);
  });
});
