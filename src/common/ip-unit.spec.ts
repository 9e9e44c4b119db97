import { ipUnit, limitUnit, limitUnitWording } from './ip-unit';

describe('ipUnit', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    // IPv4-mapped, however spelled (an X-Forwarded-For entry may spell it any way)
    ['0:0:0:0:0:ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:c000:201', '192.0.2.1'],
    // a zone id names an interface
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    // not an address: as it is
    ['unknown', 'unknown'],
    ['2001:db8::1::2', '2001:db8::1::2'],
    ['', ''],
  ])('IP %s counts as %s (IPv6 by its /64)', (ip, unit) => {
    expect(ipUnit(ip)).toBe(unit);
  });

  it('a per-address limit counts any non-address as one unit', () => {
    expect(limitUnit('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(limitUnit('203.0.113.7')).toBe('203.0.113.7');
    expect(limitUnit('a:client:x'.repeat(100))).toBe('unknown');
    expect(limitUnit(undefined)).toBe('unknown');
  });

  it('a 429 names the /64 it counted, so an IPv6 sender is not told about one address', () => {
    expect(limitUnitWording(limitUnit('2001:db8:1:2::9'))).toBe('the IPv6 network 2001:db8:1:2::/64');
    expect(limitUnitWording(limitUnit('203.0.113.7'))).toBe('this IP address');
    expect(limitUnitWording(limitUnit(undefined))).toBe('this IP address');
  });
});
