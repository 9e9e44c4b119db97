import fc from 'fast-check';
import { AddressClass, classifyAddress, HostResolver, ResolvedAddress, WebhookDestinationPolicy, WebhookDestinations } from './webhook-destinations';

const PRODUCTION: WebhookDestinationPolicy = { httpsOnly: true, allowLoopback: false, allowed: [] };
const strict = (over: Partial<WebhookDestinationPolicy> = {}, resolver?: HostResolver) => new WebhookDestinations({ ...PRODUCTION, ...over }, resolver);
const refusalOf = (d: WebhookDestinations, url: string) => {
  const checked = d.check(url);
  return checked.ok ? null : checked.refusal.reason;
};

describe('classifyAddress', () => {
  it.each<[string, AddressClass]>([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['100.64.0.1', 'carrier-grade-nat'],
    ['100.127.255.254', 'carrier-grade-nat'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['fec0::1', 'private'],
    ['2002:7f00:1::1', 'reserved'], // 6to4
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'], // Teredo
    ['64:ff9b:1::a00:1', 'reserved'], // NAT64 local-use prefix
    ['100::1', 'reserved'], // discard-only
    // IPv6 forms that stand for an IPv4 address are judged as that address
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::127.0.0.1', 'loopback'], // IPv4-compatible (deprecated), which ipaddr.js alone calls unicast
    ['::7f00:1', 'loopback'],
    ['::ffff:0:10.0.0.1', 'private'], // IPv4-translated
    ['64:ff9b::127.0.0.1', 'loopback'], // NAT64 well-known prefix
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
    // cloud metadata endpoints
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    // public
    ['8.8.8.8', 'public'],
    ['93.184.215.14', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['2606:4700::1111', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::8.8.8.8', 'public'],
  ])('%s is %s', (address, cls) => {
    expect(classifyAddress(address)).toBe(cls);
  });
});

describe('WebhookDestinations.check (when a URL is given)', () => {
  it.each<[string, string]>([
    ['https://127.0.0.1/hook', 'loopback'],
    ['https://127.0.0.1:9/', 'loopback'],
    ['https://2130706433/', 'loopback'],
    ['https://0x7f.1/', 'loopback'],
    ['https://0x7f000001/', 'loopback'],
    ['https://0177.0.0.1/', 'loopback'],
    ['https://127.1/', 'loopback'],
    ['https://127.0.0.1./', 'loopback'],
    ['https://%31%32%37.0.0.1/', 'loopback'],
    ['https://１２７.０.０.１/', 'loopback'],
    ['https://[::1]/', 'loopback'],
    ['https://[0:0:0:0:0:0:0:1]/', 'loopback'],
    ['https://[::ffff:127.0.0.1]/', 'loopback'],
    ['https://[::ffff:7f00:1]/', 'loopback'],
    ['https://[::127.0.0.1]/', 'loopback'],
    ['https://[64:ff9b::7f00:1]/', 'loopback'],
    ['https://localhost/', 'loopback'],
    ['https://LOCALHOST./', 'loopback'],
    ['https://api.localhost/', 'loopback'],
    ['https://localhost:5432/', 'loopback'],
    ['https://10.0.0.5/', 'private'],
    ['https://0300.0250.0.1/', 'private'],
    ['https://[::ffff:192.168.0.1]/', 'private'],
    ['https://169.254.169.254/latest/meta-data/', 'metadata'],
    ['https://[fd00:ec2::254]/', 'metadata'],
    ['https://metadata.google.internal/computeMetadata/v1/', 'metadata'],
    ['https://metadata.google.internal./', 'metadata'],
    ['https://169.254.10.10/', 'link-local'],
    ['https://[fe80::1]/', 'link-local'],
    ['https://[fd12::1]/', 'unique-local'],
    ['https://100.64.1.1/', 'carrier-grade-nat'],
    ['https://0.0.0.0/', 'unspecified'],
    ['https://0/', 'unspecified'],
    ['https://[::]/', 'unspecified'],
    ['https://224.0.0.1/', 'multicast'],
    ['https://255.255.255.255/', 'broadcast'],
    ['https://user:pass@bank.example/hook', 'credentials'],
    ['https://token@bank.example/hook', 'credentials'],
    ['http://bank.example/hook', 'scheme'],
    ['ftp://bank.example/hook', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['not a url', 'invalid'],
  ])('%s is refused (%s)', (url, reason) => {
    expect(refusalOf(strict(), url)).toBe(reason);
  });

  it.each([
    ['https://bank.example/hooks/otp?x=1', 'https://bank.example/hooks/otp?x=1'],
    ['https://93.184.215.14:8443/h', 'https://93.184.215.14:8443/h'],
    ['https://0x5d.0xb8.0xd7.0x0e/h', 'https://93.184.215.14/h'],
    ['https://[2606:4700::1111]/h', 'https://[2606:4700::1111]/h'],
    // a host name is not resolved when given: what it resolves to is checked at each delivery
    ['https://bank.internal/hook', 'https://bank.internal/hook'],
    ['https://127.0.0.1.nip.io/hook', 'https://127.0.0.1.nip.io/hook'],
  ])('%s is accepted, as %s', (url, normalized) => {
    expect(strict().check(url)).toEqual({ ok: true, url: normalized });
  });

  it('outside production: http is allowed, and loopback when allowLoopback is on (but never 0.0.0.0 or metadata)', () => {
    const dev = strict({ httpsOnly: false, allowLoopback: true });
    expect(dev.check('http://127.0.0.1:4000/hook').ok).toBe(true);
    expect(dev.check('http://localhost:4000/hook').ok).toBe(true);
    expect(dev.check('http://[::1]:4000/hook').ok).toBe(true);
    expect(refusalOf(dev, 'http://0.0.0.0:4000/')).toBe('unspecified');
    expect(refusalOf(dev, 'http://10.0.0.1/')).toBe('private');
    expect(refusalOf(dev, 'http://169.254.169.254/')).toBe('metadata');
    expect(refusalOf(dev, 'http://u:p@127.0.0.1/')).toBe('credentials');
  });

  it('the allow-list lets named hosts, addresses and ranges through; metadata endpoints never', () => {
    const d = strict({ allowed: ['hooks.bank.internal', '*.corp.example', '10.20.0.0/16', '192.168.7.7', 'fd12::/16', '169.254.0.0/16', 'metadata.google.internal'] });
    expect(d.check('https://10.20.3.4/h').ok).toBe(true);
    expect(d.check('https://[::ffff:10.20.3.4]/h').ok).toBe(true); // an IPv4 range covers the IPv6 forms of its addresses
    expect(d.check('https://192.168.7.7/h').ok).toBe(true);
    expect(d.check('https://[fd12::5]/h').ok).toBe(true);
    expect(refusalOf(d, 'https://10.21.0.1/h')).toBe('private');
    expect(refusalOf(d, 'https://192.168.7.8/h')).toBe('private');
    expect(d.check('https://169.254.1.1/h').ok).toBe(true);
    expect(refusalOf(d, 'https://169.254.169.254/h')).toBe('metadata');
    expect(refusalOf(d, 'https://metadata.google.internal/h')).toBe('metadata');
  });

  it('a refusal names the host (with its port), never credentials, path or query', () => {
    const checked = strict().check('https://user:s3cret@127.0.0.1:8080/p?token=abc');
    expect(checked).toEqual({ ok: false, refusal: { reason: 'credentials', host: '127.0.0.1:8080', message: expect.stringContaining('credentials') } });
    expect(JSON.stringify(checked)).not.toMatch(/s3cret|token|abc/);
  });

  it('assertAllowed answers 400 validation_failed naming the field and the reason', () => {
    expect(() => strict().assertAllowed('callbackUrl', 'https://0x7f.1/')).toThrow(
      expect.objectContaining({
        status: 400,
        code: 'validation_failed',
        detail: expect.stringMatching(/^callbackUrl must not point to a loopback address/),
        extra: { errors: [{ field: 'callbackUrl', message: expect.stringContaining('loopback') }] },
      }),
    );
    expect(strict().assertAllowed('webhookUrl', 'https://bank.example/h')).toBe('https://bank.example/h');
  });
});

/** Spellings of an IPv4 address a URL parser or a resolver may take for it. */
function spellings(o: number[]): string[] {
  const n = ((o[0] << 24) >>> 0) + (o[1] << 16) + (o[2] << 8) + o[3];
  const hex = (x: number) => '0x' + x.toString(16);
  const oct = (x: number) => '0' + x.toString(8);
  const v4 = o.join('.');
  return [
    v4,
    String(n),
    hex(n),
    o.map(oct).join('.'),
    o.map(hex).join('.'),
    `${o[0]}.${o[1]}.${(o[2] << 8) + o[3]}`,
    `${o[0]}.${(o[1] << 16) + (o[2] << 8) + o[3]}`,
    `${v4}.`,
    `[::ffff:${v4}]`,
    `[::ffff:${((o[0] << 8) + o[1]).toString(16)}:${((o[2] << 8) + o[3]).toString(16)}]`,
    `[64:ff9b::${v4}]`,
  ];
}

describe('property: every spelling of an IPv4 address gets the verdict of the address itself', () => {
  const octet = fc.integer({ min: 0, max: 255 });
  // biased towards the interesting ranges, so that each run covers refused and accepted addresses
  const address = fc.oneof(
    fc.tuple(octet, octet, octet, octet),
    fc.tuple(fc.constantFrom(0, 10, 100, 127, 169, 172, 192, 198, 224, 240, 255), octet, octet, octet),
    fc.tuple(fc.constant(169), fc.constant(254), fc.constant(169), fc.constant(254)),
  );

  it('refused exactly when the dotted address is not public, for the same reason', () => {
    const d = strict();
    fc.assert(
      fc.property(address, fc.integer({ min: 1, max: 65535 }), (o, port) => {
        const expected = classifyAddress(o.join('.'));
        for (const host of spellings(o)) {
          const reason = refusalOf(d, `https://${host}:${port}/hook`);
          expect([host, reason]).toEqual([host, expected === 'public' ? null : expected]);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('WebhookDestinations.resolve (at each delivery)', () => {
  const resolverOf = (table: Record<string, string[]>) => {
    const calls: string[] = [];
    const resolver: HostResolver = async (host) => {
      calls.push(host);
      const found = table[host];
      if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return found.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    return { resolver, calls };
  };

  it('returns the checked address to connect to, resolving the name once', async () => {
    const { resolver, calls } = resolverOf({ 'hooks.bank.example': ['93.184.215.14', '2606:4700::1111'] });
    const got = await strict({}, resolver).resolve('https://hooks.bank.example/h');
    expect(got).toMatchObject({ ok: true, address: { address: '93.184.215.14', family: 4 } });
    expect(calls).toEqual(['hooks.bank.example']);
  });

  it.each([
    ['rebind.example', ['127.0.0.1'], 'loopback'],
    ['v6.example', ['::1'], 'loopback'],
    ['mapped.example', ['::ffff:10.0.0.1'], 'private'],
    ['mixed.example', ['93.184.215.14', '10.1.2.3'], 'private'], // every address is checked, not only the first
    ['meta.example', ['169.254.169.254'], 'metadata'],
    ['nat64.example', ['64:ff9b::a9fe:a9fe'], 'metadata'],
  ])('a name resolving to a refused address is refused: %s → %j', async (host, addresses, reason) => {
    const { resolver } = resolverOf({ [host]: addresses });
    expect(await strict({}, resolver).resolve(`https://${host}/h`)).toEqual({ ok: false, refusal: { reason, host, message: expect.any(String) } });
  });

  it('an allow-listed name may resolve to private addresses (not to metadata)', async () => {
    const { resolver } = resolverOf({ 'hooks.bank.internal': ['10.1.2.3'], 'x.corp.example': ['192.168.1.1'], 'bad.corp.example': ['169.254.169.254'] });
    const d = strict({ allowed: ['hooks.bank.internal', '*.corp.example'] }, resolver);
    expect(await d.resolve('https://hooks.bank.internal/h')).toMatchObject({ ok: true, address: { address: '10.1.2.3' } });
    expect(await d.resolve('https://x.corp.example/h')).toMatchObject({ ok: true });
    expect(await d.resolve('https://bad.corp.example/h')).toMatchObject({ ok: false, refusal: { reason: 'metadata' } });
  });

  it('an address literal is checked without a lookup; a name that does not resolve is an error (a failed connection), not a refusal', async () => {
    const { resolver, calls } = resolverOf({});
    const d = strict({}, resolver);
    expect(await d.resolve('https://[::ffff:127.0.0.1]/h')).toMatchObject({ ok: false, refusal: { reason: 'loopback' } });
    expect(await d.resolve('https://93.184.215.14/h')).toMatchObject({ ok: true, address: { address: '93.184.215.14', family: 4 } });
    expect(calls).toEqual([]);
    await expect(d.resolve('https://nowhere.example/h')).rejects.toThrow(/ENOTFOUND/);
  });

  it('checks scheme and credentials again (URLs stored before these rules)', async () => {
    const { resolver, calls } = resolverOf({ 'bank.example': ['93.184.215.14'] });
    const d = strict({}, resolver);
    expect(await d.resolve('http://bank.example/h')).toMatchObject({ ok: false, refusal: { reason: 'scheme' } });
    expect(await d.resolve('https://u:p@bank.example/h')).toMatchObject({ ok: false, refusal: { reason: 'credentials' } });
    expect(calls).toEqual([]);
  });
});
