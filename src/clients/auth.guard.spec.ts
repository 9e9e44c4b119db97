import { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Authenticated, AuthedRequest, Principal, Public } from '../common/auth';
import { ProblemException } from '../common/problem';
import { AuthGuard } from './auth.guard';
import type { ClientsService } from './clients.service';

@Authenticated('audit:read')
class Routes {
  @Authenticated()
  anyKey() {}
  @Authenticated('admin')
  admin() {}
  classScope() {}
  @Public()
  open() {}
}

const principal: Principal = { clientId: 'cli_A', clientName: 'a', keyId: 'key_A', scopes: ['verifications:write'], maxCheckAttempts: null, requestsPerMinute: null, countries: null, numberTypes: null, voiceContract: null, pumping: null, webhookUrl: null };
const clients = { authenticate: async (key: string) => (key === 'good' ? principal : undefined) } as unknown as ClientsService;
const failures: string[] = [];
/** Allows 3 failures per IP, then asks to wait 42 s. */
const limiter = { hit: async (ip: string) => (failures.push(ip), failures.filter((x) => x === ip).length > 3 ? 42 : 0) };
const guard = new AuthGuard(new Reflector(), clients, limiter);

function call(route: keyof Routes, authorization?: string, ip = '198.51.100.1'): Promise<boolean> {
  const req = { headers: authorization ? { authorization } : {}, ip } as unknown as AuthedRequest;
  const context = { getHandler: () => Routes.prototype[route], getClass: () => Routes, switchToHttp: () => ({ getRequest: () => req }) } as unknown as ExecutionContext;
  return guard.canActivate(context);
}

describe('AuthGuard and @Authenticated', () => {
  it('@Authenticated() with no scope admits any valid key, and still refuses a missing or unknown one', async () => {
    await expect(call('anyKey', 'Bearer good')).resolves.toBe(true);
    await expect(call('anyKey')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    await expect(call('anyKey', 'Bearer bad')).rejects.toMatchObject({ status: 401 });
  });

  it('a key without the scope of the route (method, else class) is 403', async () => {
    await expect(call('admin', 'Bearer good')).rejects.toBeInstanceOf(ProblemException);
    await expect(call('admin', 'Bearer good')).rejects.toMatchObject({ status: 403, code: 'forbidden', detail: 'This API key lacks the scope admin.' });
    await expect(call('classScope', 'Bearer good')).rejects.toMatchObject({ status: 403, detail: 'This API key lacks the scope audit:read.' });
  });

  it('@Public() needs no key', async () => {
    await expect(call('open')).resolves.toBe(true);
  });

  it('failed authentications are counted per IP: past the limit they answer 429 with Retry-After; a valid key is not counted', async () => {
    const ip = '203.0.113.99';
    for (let i = 0; i < 3; i++) await expect(call('anyKey', 'Bearer bad', ip)).rejects.toMatchObject({ status: 401 });
    await expect(call('anyKey', 'Bearer good', ip)).resolves.toBe(true);
    await expect(call('anyKey', undefined, ip)).rejects.toMatchObject({ status: 429, code: 'rate_limited', extra: { limit: 'auth_failures', headers: { 'Retry-After': '42' } } });
    await expect(call('anyKey', 'Bearer bad', '203.0.113.100')).rejects.toMatchObject({ status: 401 }); // another IP
    expect(failures.filter((x) => x === ip)).toHaveLength(4);
  });
});
