import { BlockList, isIP } from 'node:net';

/**
 * Ranges no provider of a deployed service lives at, by name (for the message that refuses one). A token
 * endpoint there would make the function ask something inside its own network (the instance metadata
 * endpoint, a VPC service) for tokens, or reach somewhere no public server is.
 */
export type ForbiddenRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared address space'
  | 'link-local'
  | 'IETF protocol assignments'
  | 'benchmarking'
  | 'documentation'
  | 'multicast'
  | 'reserved'
  | 'broadcast'
  | 'not an address';

const IPV4_RANGES: ReadonlyArray<readonly [ForbiddenRange, string, number]> = [
  ['unspecified', '0.0.0.0', 8],
  ['private', '10.0.0.0', 8],
  ['shared address space', '100.64.0.0', 10],
  ['loopback', '127.0.0.0', 8],
  ['link-local', '169.254.0.0', 16],
  ['private', '172.16.0.0', 12],
  ['IETF protocol assignments', '192.0.0.0', 24],
  ['documentation', '192.0.2.0', 24],
  // The 6to4 relay anycast (deprecated): a relay inside someone's network, not a provider.
  ['reserved', '192.88.99.0', 24],
  ['private', '192.168.0.0', 16],
  ['benchmarking', '198.18.0.0', 15],
  ['documentation', '198.51.100.0', 24],
  ['documentation', '203.0.113.0', 24],
  ['multicast', '224.0.0.0', 4],
  // 255.255.255.255 is checked first, so that it is named for what it is.
  ['reserved', '240.0.0.0', 4],
];

const IPV6_RANGES: ReadonlyArray<readonly [ForbiddenRange, string, number]> = [
  ['unspecified', '::', 128],
  ['loopback', '::1', 128],
  // IPv4-compatible (deprecated) and Teredo addresses carry an IPv4 address a host may still route to.
  ['reserved', '::', 96],
  // SIIT's IPv4-translated form (::ffff:0:a.b.c.d) carries an IPv4 address as the mapped form does.
  ['reserved', '::ffff:0:0:0', 96],
  ['reserved', '100::', 64],
  ['reserved', '2001::', 32],
  ['benchmarking', '2001:2::', 48],
  ['documentation', '2001:db8::', 32],
  ['private', 'fc00::', 7],
  ['link-local', 'fe80::', 10],
  ['reserved', 'fec0::', 10],
  ['multicast', 'ff00::', 8],
];

function listOf(ranges: ReadonlyArray<readonly [ForbiddenRange, string, number]>, family: 'ipv4' | 'ipv6') {
  return ranges.map(([name, network, prefix]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, family);
    return [name, list] as const;
  });
}

const IPV4 = listOf(IPV4_RANGES, 'ipv4');
const IPV6 = listOf(IPV6_RANGES, 'ipv6');

/** The eight 16-bit groups of an IPv6 address, from the WHATWG URL's canonical form (hex groups, one `::`). */
function ipv6Groups(address: string): number[] | undefined {
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head = '', tail] = canonical.split('::');
  const before = head ? head.split(':') : [];
  const after = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array<string>(8 - before.length - after.length).fill('0');
  return [...before, ...zeros, ...after].map((group) => Number.parseInt(group, 16));
}

const dotted = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;

/**
 * The IPv4 address an IPv6 address stands for, where it stands for one: IPv4-mapped (`::ffff:a.b.c.d`),
 * NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48) and 6to4 (2002::/16). The connection ends at that
 * IPv4 address (through a translator or a tunnel), so it is judged as that address.
 */
function embeddedIpv4(groups: readonly number[]): string | undefined {
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = groups;
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) return dotted(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && (g2 === 1 || (g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)))
    return dotted(g6, g7);
  if (g0 === 0x2002) return dotted(g1 ?? 0, g2 ?? 0);
  return undefined;
}

/**
 * Where an IP address is, when it is somewhere a token endpoint must not be; undefined for a public address.
 * Anything that is not an IP address is `not an address`: the check fails closed.
 */
export function forbiddenRangeOf(address: string): ForbiddenRange | undefined {
  const family = isIP(address);
  if (family === 4) {
    if (address === '255.255.255.255') return 'broadcast';
    return IPV4.find(([, list]) => list.check(address, 'ipv4'))?.[0];
  }
  if (family !== 6) return 'not an address';
  const groups = ipv6Groups(address);
  if (!groups) return 'not an address';
  const embedded = embeddedIpv4(groups);
  if (embedded !== undefined) return forbiddenRangeOf(embedded);
  const canonical = groups.map((group) => group.toString(16)).join(':');
  return IPV6.find(([, list]) => list.check(canonical, 'ipv6'))?.[0];
}

/** True when an IPv6 literal stands for an IPv4 address (mapped, compatible, NAT64, 6to4): refused at config. */
export function isIpv6FormOfIpv4(address: string): boolean {
  if (isIP(address) !== 6) return false;
  const groups = ipv6Groups(address);
  if (!groups) return false;
  const compatible = groups.slice(0, 6).every((group) => group === 0) && (groups[6] ?? 0) !== 0;
  return compatible || embeddedIpv4(groups) !== undefined;
}

/**
 * Names that resolve inside a network rather than on the internet: single labels (`instance-data`), and the
 * special-use and private-use suffixes. A deployed service's providers are public names.
 */
const INTERNAL_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa', '.localdomain', '.intranet'];

/**
 * Why a URL's host is no place for a deployed service's token endpoint, or undefined when it may be one.
 * A literal is judged by its address; a name only by its form (the address it resolves to is checked on
 * every connection, see `lambda/oauth/guarded-fetch.ts`).
 */
export function privateEndpointReason(value: string): string | undefined {
  let hostname: string;
  try {
    hostname = new URL(value).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (isIP(bare) !== 0) {
    const range = forbiddenRangeOf(bare);
    return range === undefined ? undefined : `is a ${range} address`;
  }
  if (hostname === 'localhost' || !hostname.includes('.')) return 'is not a public host name';
  if (INTERNAL_SUFFIXES.some((suffix) => hostname.endsWith(suffix))) return 'is a special-use name';
  return undefined;
}

/** True when the URL's host is a loopback, private, link-local or otherwise non-public address or name. */
export const isPrivateEndpoint = (value: string): boolean => privateEndpointReason(value) !== undefined;
