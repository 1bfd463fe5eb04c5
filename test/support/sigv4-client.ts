import { signRequest } from '../../packages/client/src/sigv4-signer';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SignedCall {
  readonly method: string;
  readonly url: string;
  readonly body?: string;
  readonly credentials?: Credentials;
  readonly service?: string;
  readonly headers?: Record<string, string>;
  /** Changes the request after it was signed, to prove the gateway notices. */
  readonly tamper?: (request: { headers: Record<string, string>; body?: string }) => void;
  readonly signingDate?: Date;
  /** @default us-east-1 */
  readonly region?: string;
}

export interface CallResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

/** A request signed with the AWS SDK's own SigV4 signer (through the client's), as any caller would sign it. */
export async function signedFetch(call: SignedCall): Promise<CallResult> {
  const url = new URL(call.url);
  const headers: Record<string, string> = { ...call.headers };
  if (call.body !== undefined) headers['content-type'] ??= 'application/json';
  const finalHeaders = call.credentials
    ? await signRequest(
        { method: call.method, url, headers, ...(call.body === undefined ? {} : { body: call.body }) },
        {
          credentials: call.credentials,
          region: call.region ?? 'us-east-1',
          ...(call.service ? { service: call.service } : {}),
          ...(call.signingDate ? { signingDate: call.signingDate } : {}),
        },
      )
    : headers;
  const request = { headers: { ...finalHeaders }, ...(call.body === undefined ? {} : { body: call.body }) };
  call.tamper?.(request);
  const response = await fetch(url, {
    method: call.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = {};
  }
  return { status: response.status, headers: response.headers, text, json };
}
