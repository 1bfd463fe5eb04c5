import type * as oauth from 'oauth4webapi';
import type { EndpointPolicy } from '../config/load-providers';
import type { ProviderConfig } from '../config/provider-schema';
import type { ClientCredentials } from '../credentials/client-credentials';
import { guardedFetch } from './guarded-fetch';

/** A token response is a few KiB; a body past this is refused unread, never buffered whole. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Statuses whose Response may not carry a body. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** A provider's body past {@link MAX_RESPONSE_BYTES}, by its content-length or by counting. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';

  constructor(readonly status: number) {
    super(`response larger than ${MAX_RESPONSE_BYTES} bytes`);
  }
}

/**
 * Reads a body up to `limit` bytes, counting as it goes. A body that trickles in is cut off by the request's
 * signal (its timeout), which the stream honours, so it ends as a timeout rather than a malformed answer.
 */
async function readBounded(response: Response, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw new ResponseTooLargeError(response.status);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new ResponseTooLargeError(response.status);
    }
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** Where token requests go out: the caller's fetch (tests) or {@link guardedFetch}, and which addresses. */
export interface TransportOptions {
  readonly fetch: typeof fetch;
  readonly endpoints: EndpointPolicy;
}

/** The connection: presenting the client certificate for `tls_client_auth`, the plain transport otherwise. */
function connectionFor(
  provider: ProviderConfig,
  credentials: ClientCredentials,
  transport: TransportOptions,
): typeof fetch {
  if (provider.clientAuth !== 'tls_client_auth' || !('clientCertificate' in credentials))
    return transport.fetch;
  const { clientCertificate, privateKey, serverCa } = credentials;
  if (!clientCertificate || typeof privateKey !== 'string') return transport.fetch;
  return guardedFetch({
    endpoints: transport.endpoints,
    identity: { certificate: clientCertificate, privateKey, ...(serverCa ? { serverCa } : {}) },
  });
}

/**
 * The fetch every token request goes through: Auth0's documented JSON variant of the body where the entry
 * asks for it, and the answer read in full, within the request's time and {@link MAX_RESPONSE_BYTES}, before
 * oauth4webapi parses it.
 */
export function tokenTransport(
  provider: ProviderConfig,
  credentials: ClientCredentials,
  transport: TransportOptions,
) {
  const connection = connectionFor(provider, credentials, transport);
  const encoding = provider.bodyEncoding;
  return async (url: string, init: oauth.CustomFetchOptions<'POST', URLSearchParams>): Promise<Response> => {
    const response = await connection(
      url,
      encoding === 'json'
        ? {
            ...init,
            headers: { ...init.headers, 'content-type': 'application/json' },
            body: JSON.stringify(Object.fromEntries(init.body)),
          }
        : init,
    );
    const bytes = await readBounded(response, MAX_RESPONSE_BYTES);
    return new Response(NULL_BODY_STATUSES.has(response.status) ? null : bytes, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
