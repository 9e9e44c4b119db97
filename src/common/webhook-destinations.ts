import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import { Logger } from '@nestjs/common';
import { buildMessage, ValidateBy, ValidationOptions } from 'class-validator';
import ipaddr from 'ipaddr.js';
import { ProblemException } from './problem';

/**
 * Where result webhooks may go: the guard against server-side request forgery through a caller's
 * `callbackUrl` or a client's `webhookUrl`. The service POSTs to these URLs from inside the operator's
 * network, so without it a caller could make it reach loopback services, the database, its own admin
 * routes or a cloud metadata endpoint, and read the outcome of each try as a port scan.
 *
 * Only public unicast addresses are destinations, unless the operator allow-lists a host name, an address
 * or a range (WEBHOOK_ALLOWED_DESTINATIONS), or allows loopback (WEBHOOK_ALLOW_LOOPBACK, the default
 * outside production, for local receivers). Cloud metadata endpoints are refused whatever the allow-list
 * says. A URL is checked when it is given (`check`, for a 400) and again at each delivery against the
 * addresses its host resolves to then (`resolve`): the delivery connects to the very address that was
 * checked, so a DNS answer that changes between check and connect (rebinding) cannot redirect it.
 */

/** What kind of address a destination is; everything but `public` is refused unless allowed. */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'carrier-grade-nat'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'metadata';

export type RefusalReason = Exclude<AddressClass, 'public'> | 'invalid' | 'scheme' | 'credentials';

export interface Refusal {
  reason: RefusalReason;
  /** Says why, after the field name: "callbackUrl must not …". Names no address it resolved to. */
  message: string;
  /** The URL's host (and port), for logs and audit events; never its credentials, path or query. */
  host: string | null;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses (like getaddrinfo); tests replace it. */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: HostResolver = async (hostname) =>
  (await dns.lookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

export interface WebhookDestinationPolicy {
  /** Only https URLs (production); otherwise http too. */
  httpsOnly: boolean;
  /** Loopback destinations (127.0.0.0/8, ::1, localhost) allowed: local receivers in development and tests. */
  allowLoopback: boolean;
  /** Host names (`bank.internal`, `*.bank.internal`), addresses and CIDR ranges allowed although not public. */
  allowed: readonly string[];
}

const METADATA_ADDRESSES = ['169.254.169.254', '169.254.170.2', '169.254.170.23', '100.100.100.200', '192.0.0.192', 'fd00:ec2::254', 'fd00:ec2::23'].map((a) =>
  ipaddr.parse(a).toNormalizedString(),
);
const METADATA_HOSTS = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);

const V4_CLASSES: Record<string, AddressClass> = {
  unicast: 'public',
  loopback: 'loopback',
  private: 'private',
  linkLocal: 'link-local',
  carrierGradeNat: 'carrier-grade-nat',
  unspecified: 'unspecified',
  multicast: 'multicast',
  broadcast: 'broadcast',
};
const V6_CLASSES: Record<string, AddressClass> = {
  loopback: 'loopback',
  linkLocal: 'link-local',
  uniqueLocal: 'unique-local',
  deprecatedSiteLocal: 'private',
  unspecified: 'unspecified',
  multicast: 'multicast',
};
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3') as [ipaddr.IPv6, number];
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96') as [ipaddr.IPv6, number];
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96') as [ipaddr.IPv6, number];
const IPV4_TRANSLATED = ipaddr.parseCIDR('::ffff:0:0:0/96') as [ipaddr.IPv6, number];

/**
 * The IPv4 address an IPv6 address stands for, when it carries one in its last 32 bits and a packet to it
 * reaches that IPv4 host: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated),
 * IPv4-translated (::ffff:0:a.b.c.d) and the well-known NAT64 prefix (64:ff9b::a.b.c.d).
 */
function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 | null {
  const carries =
    v6.isIPv4MappedAddress() ||
    v6.match(IPV4_TRANSLATED) ||
    v6.match(NAT64_WELL_KNOWN) ||
    (v6.match(IPV4_COMPATIBLE) && v6.range() !== 'unspecified' && v6.range() !== 'loopback');
  if (!carries) return null;
  const bytes = v6.toByteArray();
  return new ipaddr.IPv4(bytes.slice(12));
}

/** The address as ipaddr.js parses it, IPv6 forms that stand for an IPv4 address reduced to it. */
function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 {
  const addr = ipaddr.parse(text.replace(/^\[(.*)\]$/, '$1'));
  return addr.kind() === 'ipv6' ? (embeddedIPv4(addr as ipaddr.IPv6) ?? addr) : addr;
}

/** The class of an IP address (v4 or v6, with or without brackets). Throws on anything that is not an address. */
export function classifyAddress(text: string): AddressClass {
  const addr = parseAddress(text);
  if (METADATA_ADDRESSES.includes(addr.toNormalizedString())) return 'metadata';
  if (addr.kind() === 'ipv4') return V4_CLASSES[addr.range()] ?? 'reserved';
  const v6 = addr as ipaddr.IPv6;
  const range = v6.range();
  if (range === 'unicast') return v6.match(GLOBAL_UNICAST_V6) ? 'public' : 'reserved';
  return V6_CLASSES[range] ?? 'reserved'; // 6to4, Teredo, NAT64 local-use, documentation, ORCHID…: no destination for a webhook
}

const DESCRIPTIONS: Record<RefusalReason, string> = {
  invalid: 'must be a valid absolute URL',
  scheme: 'must be an https URL',
  credentials: 'must not contain credentials (user:password@)',
  loopback: 'must not point to a loopback address (localhost, 127.0.0.0/8, ::1)',
  private: 'must not point to a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)',
  'link-local': 'must not point to a link-local address (169.254.0.0/16, fe80::/10)',
  'unique-local': 'must not point to a unique-local address (fc00::/7)',
  'carrier-grade-nat': 'must not point to a carrier-grade NAT address (100.64.0.0/10)',
  unspecified: 'must not point to an unspecified address (0.0.0.0, ::)',
  multicast: 'must not point to a multicast address',
  broadcast: 'must not point to a broadcast address',
  reserved: 'must not point to a reserved or special-purpose address',
  metadata: 'must not point to a cloud metadata endpoint',
};

/** Host names the operator allows: exact names, and `*.suffix` for every name under a domain. */
class AllowList {
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly ranges: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [];

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase().replace(/\.$/, '');
      if (ipaddr.isValidCIDR(entry)) this.ranges.push(ipaddr.parseCIDR(entry));
      else if (isIP(entry)) {
        const addr = ipaddr.parse(entry);
        this.ranges.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
      } else if (entry.startsWith('*.')) this.suffixes.push(entry.slice(1));
      else this.names.add(entry);
    }
  }

  hasName(hostname: string): boolean {
    return this.names.has(hostname) || this.suffixes.some((s) => hostname.endsWith(s));
  }

  hasAddress(address: string): boolean {
    const addr = parseAddress(address);
    // an IPv4 range also covers the IPv6 forms of its addresses: parseAddress reduced those to IPv4
    return this.ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
  }
}

export class WebhookDestinations {
  private readonly logger = new Logger(WebhookDestinations.name);
  private readonly allowList: AllowList;

  constructor(
    private readonly policy: WebhookDestinationPolicy,
    private readonly resolver: HostResolver = systemResolver,
  ) {
    this.allowList = new AllowList(policy.allowed);
  }

  /**
   * Checks a URL as it is given (a start's callbackUrl, a client's webhookUrl): scheme, credentials, and its
   * host when that is an address or a name known to be local. A host name is not resolved here: what it
   * resolves to is checked at each delivery. Returns the URL normalized (e.g. http://0x7f.1/ reads
   * http://127.0.0.1/), or the refusal.
   */
  check(url: string): { ok: true; url: string } | { ok: false; refusal: Refusal } {
    const checked = this.checkStatic(url);
    return checked.ok ? { ok: true, url: checked.url.toString() } : checked;
  }

  /** `check`, answering a refusal with 400 validation_failed naming the field (and logging the host, not the URL). */
  assertAllowed(field: string, url: string): string {
    const checked = this.check(url);
    if (checked.ok) return checked.url;
    const { reason, host, message } = checked.refusal;
    this.logger.warn({ field, reason, host }, 'webhook destination refused');
    const detail = `${field} ${message}` + (reason === 'scheme' || reason === 'credentials' || reason === 'invalid' ? '.' : '; such destinations are refused unless the operator allow-lists them.');
    throw new ProblemException(400, 'validation_failed', detail, { errors: [{ field, message: `${field} ${message}` }] });
  }

  /**
   * At delivery: checks the URL again and resolves its host, refusing it when any of its addresses is not an
   * allowed destination. The address returned is the one to connect to, and no other: resolving the name
   * again when connecting could give another answer.
   */
  async resolve(url: string): Promise<{ ok: true; url: URL; address: ResolvedAddress } | { ok: false; refusal: Refusal }> {
    const checked = this.checkStatic(url);
    if (!checked.ok) return checked;
    const { url: target, hostname } = checked;
    if (isIP(hostname)) return { ok: true, url: target, address: { address: hostname, family: isIP(hostname) === 6 ? 6 : 4 } };
    const addresses = await this.resolver(hostname);
    if (addresses.length === 0) throw new Error(`no address for ${hostname}`);
    const nameAllowed = this.allowList.hasName(hostname);
    for (const { address } of addresses) {
      const refused = this.refusalFor(address, nameAllowed);
      if (refused) return { ok: false, refusal: this.refusal(refused, target) };
    }
    return { ok: true, url: target, address: addresses[0] };
  }

  private checkStatic(url: string): { ok: true; url: URL; hostname: string } | { ok: false; refusal: Refusal } {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return { ok: false, refusal: { reason: 'invalid', message: DESCRIPTIONS.invalid, host: null } };
    }
    const schemes = this.policy.httpsOnly ? ['https:'] : ['https:', 'http:'];
    if (!schemes.includes(target.protocol) || !target.hostname) {
      const message = DESCRIPTIONS.scheme + (this.policy.httpsOnly ? '' : ' (http is allowed outside production)');
      return { ok: false, refusal: { reason: 'scheme', message, host: target.hostname ? target.host : null } };
    }
    if (target.username || target.password) return { ok: false, refusal: this.refusal('credentials', target) };
    // WHATWG URL parsing has already turned numeric forms (2130706433, 0x7f.1, 0177.0.0.1, 127.1) into dotted IPv4
    const hostname = target.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
    const refused = isIP(hostname) ? this.refusalFor(hostname, false) : this.refusalForName(hostname);
    return refused ? { ok: false, refusal: this.refusal(refused, target) } : { ok: true, url: target, hostname };
  }

  /** Why a host name is refused before resolving it (metadata names, localhost), or null. */
  private refusalForName(hostname: string): RefusalReason | null {
    if (METADATA_HOSTS.has(hostname)) return 'metadata';
    if (this.allowList.hasName(hostname)) return null;
    if ((hostname === 'localhost' || hostname.endsWith('.localhost')) && !this.policy.allowLoopback) return 'loopback';
    return null;
  }

  /** Why an address is refused, or null. `nameAllowed`: the host name it came from is allow-listed. */
  private refusalFor(address: string, nameAllowed: boolean): RefusalReason | null {
    const cls = classifyAddress(address);
    if (cls === 'public') return null;
    if (cls === 'metadata') return 'metadata'; // whatever the allow-list says
    if (nameAllowed || this.allowList.hasAddress(address)) return null;
    if (cls === 'loopback' && this.policy.allowLoopback) return null;
    return cls;
  }

  private refusal(reason: RefusalReason, url: URL): Refusal {
    return { reason, message: DESCRIPTIONS[reason], host: url.host };
  }
}

/**
 * A DTO field holding an absolute http(s) URL, as the WHATWG parser (and so the delivery) reads it; where it
 * may point is for WebhookDestinations to say, with a reason. (class-validator's IsUrl refuses some spellings
 * of an address, e.g. http://0x7f.1/, only as "must be a URL", and accepts others.)
 */
export function IsHttpUrl(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isHttpUrl',
      validator: {
        validate: (value: unknown) => {
          if (typeof value !== 'string') return false;
          try {
            const url = new URL(value);
            return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
          } catch {
            return false;
          }
        },
        defaultMessage: buildMessage((each) => `${each}$property must be an absolute http or https URL`, options),
      },
    },
    options,
  );
}
