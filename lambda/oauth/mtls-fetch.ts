import { request } from 'node:https';
import { Readable } from 'node:stream';

/** The TLS identity a provider with `tls_client_auth` (RFC 8705 §2.1) knows the client by. */
export interface TlsClientIdentity {
  readonly certificate: string;
  readonly privateKey: string;
  /** A private CA the provider's server certificate is issued by, where it is not a public one. */
  readonly serverCa?: string;
}

/**
 * A `fetch` that presents a client certificate: for one provider's token requests only, so the identity never
 * reaches another host. Node's `fetch` takes no client certificate without an extra dispatcher package, so this
 * is `https.request`, answering a web `Response` as `fetch` would (the signal aborts it, the body streams).
 */
export function mtlsFetch(identity: TlsClientIdentity): typeof fetch {
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const headers = Object.fromEntries(new Headers(init?.headers).entries());
      const body = init?.body === undefined || init.body === null ? undefined : String(init.body);
      const outgoing = request(
        url,
        {
          method: init?.method ?? 'GET',
          headers:
            body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          cert: identity.certificate,
          key: identity.privateKey,
          ...(identity.serverCa ? { ca: identity.serverCa } : {}),
          ...(init?.signal ? { signal: init.signal } : {}),
        },
        (incoming) => {
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
        },
      );
      // As fetch does: a failed connection or handshake is a TypeError, an abort keeps its reason.
      outgoing.on('error', (error) =>
        reject(init?.signal?.aborted ? init.signal.reason : new TypeError('fetch failed', { cause: error })),
      );
      outgoing.end(body);
    });
}
