import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { forbiddenRangeOf, isIpv6FormOfIpv4 } from '../../lambda/config/private-endpoints';
import { refusalOf } from '../../lambda/oauth/guarded-fetch';

/** A reference classifier on 32-bit integers, written apart from the BlockList one, for the properties. */
const REFERENCE_V4: ReadonlyArray<readonly [number, number]> = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
].map(([network, prefix]) => [toInt(network as string), prefix as number] as const);

function toInt(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

const referenceForbidden = (address: string): boolean =>
  REFERENCE_V4.some(
    ([network, prefix]) =>
      Math.floor(toInt(address) / 2 ** (32 - prefix)) === Math.floor(network / 2 ** (32 - prefix)),
  );

const hex = (address: string) => {
  const [a = 0, b = 0, c = 0, d = 0] = address.split('.').map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
};

describe('Function: forbiddenRangeOf', () => {
  it('names every address of the review that passed the old literal check', () => {
    for (const [address, range] of [
      ['::127.0.0.1', 'reserved'],
      ['64:ff9b::a9fe:a9fe', 'link-local'],
      ['2002:a9fe:a9fe::', 'link-local'],
      ['198.18.0.1', 'benchmarking'],
      ['192.0.0.1', 'IETF protocol assignments'],
      ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['::ffff:169.254.169.254', 'link-local'],
      ['64:ff9b:1::a00:1', 'private'],
      ['0.0.0.0', 'unspecified'],
      ['::', 'unspecified'],
      ['::1', 'loopback'],
      ['ff02::1', 'multicast'],
      ['fe80::1', 'link-local'],
      ['fd12:3456::1', 'private'],
      ['2001::1', 'reserved'],
      // Found by the second review: SIIT, discard-only, IPv6 benchmarking, the 6to4 relay.
      ['::ffff:0:7f00:1', 'reserved'],
      ['100::1', 'reserved'],
      ['2001:2::1', 'benchmarking'],
      ['192.88.99.1', 'reserved'],
      ['not-an-ip', 'not an address'],
    ] as const) {
      assert.equal(forbiddenRangeOf(address), range, address);
    }
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700::1111', '64:ff9b::808:808', '2002:808:808::1']) {
      assert.equal(forbiddenRangeOf(address), undefined, address);
    }
  });

  it('agrees with an integer reference on every IPv4 address', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        assert.equal(forbiddenRangeOf(address) !== undefined, referenceForbidden(address), address);
      }),
      { numRuns: 5000 },
    );
  });

  it('judges an IPv4 address the same in each of its IPv6 forms (mapped, NAT64, 6to4)', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        const [high, low] = hex(address);
        const range = forbiddenRangeOf(address);
        for (const form of [
          `::ffff:${address}`,
          `::ffff:${high}:${low}`,
          `64:ff9b::${high}:${low}`,
          `64:ff9b:1::${high}:${low}`,
          `2002:${high}:${low}::1`,
        ]) {
          assert.equal(forbiddenRangeOf(form), range, form);
          assert.ok(isIpv6FormOfIpv4(form), form);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws, and never calls anything but an IP address public', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.ipV6(), fc.ipV4Extended()), (text) => {
        const range = forbiddenRangeOf(text);
        if (range === undefined) assert.ok(/^[0-9a-f:.]+$/i.test(text), text);
      }),
      { numRuns: 5000 },
    );
  });

  it('lets the local run reach loopback, and nothing else private', () => {
    assert.equal(refusalOf('127.0.0.1', 'local'), undefined);
    assert.equal(refusalOf('::1', 'local'), undefined);
    assert.equal(refusalOf('127.0.0.1', 'public'), 'a loopback address');
    assert.equal(refusalOf('169.254.169.254', 'local'), 'a link-local address');
    assert.equal(refusalOf('10.0.0.1', 'local'), 'a private address');
  });
});

describe('Token endpoints at configuration', () => {
  const entry = (tokenEndpoint: string) => ({
    providers: [{ id: 'p', tokenEndpoint, clientAuth: 'client_secret_basic', secretId: 's' }],
  });

  it('refuses trailing-dot hosts and IPv6 forms of IPv4 in any environment, the local run too', () => {
    for (const endpoint of [
      'https://localhost./token',
      'https://idp.example./token',
      'https://[::127.0.0.1]/token',
      'https://[::ffff:8.8.8.8]/token',
      'https://[64:ff9b::a9fe:a9fe]/token',
      'https://[2002:a9fe:a9fe::]/token',
    ]) {
      for (const policy of ['public', 'local'] as const) {
        assert.throws(
          () => parseProviderConfig(entry(endpoint), 'p', policy),
          /trailing dot|IPv6 form/,
          endpoint,
        );
      }
    }
  });

  it('refuses internal names and non-public literals for a deployed service', () => {
    for (const endpoint of [
      'https://instance-data/latest',
      'https://metadata.google.internal/computeMetadata',
      'https://printer.local/token',
      'https://198.18.0.1/token',
      'https://192.0.0.1/token',
      'https://224.0.0.1/token',
      'https://255.255.255.255/token',
      'https://[fe80::1]/token',
    ]) {
      assert.throws(() => parseProviderConfig(entry(endpoint)), /only the local run may use one/, endpoint);
    }
    // Public names that resolve inside are refused where it counts: at the connection.
    for (const endpoint of ['https://localtest.me/token', 'https://169.254.169.254.nip.io/token']) {
      assert.equal(parseProviderConfig(entry(endpoint)).length, 1, endpoint);
    }
  });
});
