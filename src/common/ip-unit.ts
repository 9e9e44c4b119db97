import { isIP } from 'node:net';

/**
 * An IP address as the unit that rate limits and velocity rules count: an IPv4 address as given (an IPv4-mapped
 * IPv6 address, however spelled, as IPv4), an IPv6 address by its /64. One subscriber or host usually holds a whole
 * /64, so counting single addresses would count nothing: a sender could take a new address for every request.
 * Anything that is not an address comes back as it is.
 */
export function ipUnit(ip: string): string {
  const address = ip.split('%')[0]; // a zone id (fe80::1%eth0) names an interface, not a host
  const version = isIP(address);
  if (version !== 6) return version === 4 ? address : ip;
  const g = groups(address);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`;
  return `${g.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}

/** A valid IPv6 address's eight 16-bit groups (an embedded IPv4 tail, `::ffff:1.2.3.4`, as its two). */
function groups(address: string): number[] {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right].map((x) => parseInt(x, 16));
}

/**
 * The unit a per-address rate limit counts: `ipUnit` of an address; anything else (an X-Forwarded-For entry
 * believed under TRUST_PROXY=true can be any text) counts as one unit, `unknown`, so that it can neither open a
 * fresh counter per request nor make a counter's key long.
 */
export function limitUnit(ip: string | undefined): string {
  return ip !== undefined && isIP(ip.split('%')[0]) ? ipUnit(ip) : 'unknown';
}

/** How a 429 names what a per-address limit counted: the address, or an IPv6 address's /64 by its prefix. */
export function limitUnitWording(unit: string): string {
  return unit.endsWith('::/64') ? `the IPv6 network ${unit}` : 'this IP address';
}
