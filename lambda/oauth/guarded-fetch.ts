import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import type { EndpointPolicy } from '../config/load-providers';
import { forbiddenRangeOf } from '../config/private-endpoints';

/** The TLS identity a provider with `tls_client_auth` (RFC 8705 §2.1) knows the client by. */
export interface TlsClientIdentity {
  readonly certificate: string;
  readonly privateKey: string;
  /** A private CA the provider's server certificate is issued by, where it is not a public one. */
  readonly serverCa?: string;
}

/** A token endpoint resolved to, or is, an address the service does not connect to. */
export class ForbiddenAddressError extends Error {
  override readonly name = 'ForbiddenAddressError';
}

/** Why the service does not connect to `address` under `policy`; undefined when it may. */
export function refusalOf(address: string, policy: EndpointPolicy): string | undefined {
  const range = forbiddenRangeOf(address);
  if (range === undefined || (policy === 'local' && range === 'loopback')) return undefined;
  return `a ${range} address`;
}

/**
 * A DNS lookup that refuses an answer holding any address the policy forbids: the address connected to is
 * the one checked, whatever the name (`localtest.me`, `169.254.169.254.nip.io`) or a rebinding resolver says.
 */
export function guardedLookup(policy: EndpointPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const refused = addresses
        .map((entry) => refusalOf(entry.address, policy))
        .find((reason) => reason !== undefined);
      if (refused !== undefined || addresses.length === 0) {
        const reason = refused ?? 'no address';
        return callback(
          Object.assign(new ForbiddenAddressError(`${hostname} resolves to ${reason}`), {
            code: 'EFORBIDDEN',
          }),
          '',
          0,
        );
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses as [LookupAddress];
      return callback(null, first.address, first.family);
    });
  };
}

export interface GuardedFetchOptions {
  readonly endpoints: EndpointPolicy;
  /** Presented on the connection, for `tls_client_auth`: to this provider's host only. */
  readonly identity?: TlsClientIdentity;
}

/**
 * The `fetch` every token request goes through: `http(s).request` with {@link guardedLookup}, so the address
 * connected to is checked on every connection (an IP literal, which needs no lookup, is checked before), and
 * with the client certificate where the provider authenticates the client by TLS. Node's `fetch` takes neither
 * a lookup nor a client certificate without the `undici` package (about 400 KiB), so this answers a web
 * `Response` as `fetch` would: the signal aborts it, the body streams, a failed connection is a TypeError.
 */
export function guardedFetch(options: GuardedFetchOptions): typeof fetch {
  const lookup = guardedLookup(options.endpoints);
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      const literalRefusal = isIP(host) === 0 ? undefined : refusalOf(host, options.endpoints);
      if (literalRefusal !== undefined) {
        reject(
          new TypeError('fetch failed', {
            cause: new ForbiddenAddressError(`${host} is ${literalRefusal}`),
          }),
        );
        return;
      }
      const headers = Object.fromEntries(new Headers(init?.headers).entries());
      const body = init?.body === undefined || init.body === null ? undefined : String(init.body);
      const { identity } = options;
      const requestOptions: RequestOptions & Record<string, unknown> = {
        method: init?.method ?? 'GET',
        headers:
          body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup,
        ...(identity
          ? {
              cert: identity.certificate,
              key: identity.privateKey,
              ...(identity.serverCa ? { ca: identity.serverCa } : {}),
            }
          : {}),
        ...(init?.signal ? { signal: init.signal } : {}),
      };
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const outgoing = send(url, requestOptions, (incoming) => {
        // As fetch does: a body still arriving when the signal fires fails with the signal's reason (a timeout).
        init?.signal?.addEventListener('abort', () => incoming.destroy(init.signal?.reason), { once: true });
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(incoming.headers)) {
          for (const single of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
            responseHeaders.append(name, single);
          }
        }
        const status = incoming.statusCode ?? 502;
        const stream = [101, 204, 205, 304].includes(status)
          ? null
          : (Readable.toWeb(incoming) as ReadableStream);
        resolve(
          new Response(stream, {
            status,
            statusText: incoming.statusMessage ?? '',
            headers: responseHeaders,
          }),
        );
      });
      // As fetch does: a failed connection or handshake is a TypeError, an abort keeps its reason.
      outgoing.on('error', (error) =>
        reject(init?.signal?.aborted ? init.signal.reason : new TypeError('fetch failed', { cause: error })),
      );
      outgoing.end(body);
    });
}
