import type { TestResponse } from './app';

/** The answer is an RFC 9457 problem+json with this status and code. */
export function expectProblem(res: Pick<TestResponse, 'status' | 'headers' | 'body'>, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code, type: expect.stringContaining('/problems/'), title: expect.any(String) });
}
