import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
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
}

export interface CallResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

/** A request signed with the AWS SDK's own SigV4 signer, as any service calling the API would sign it. */
export async function signedFetch(call: SignedCall): Promise<CallResult> {
  const url = new URL(call.url);
  const headers: Record<string, string> = { host: url.host, ...call.headers };
  if (call.body !== undefined) headers['content-type'] ??= 'application/json';
  let finalHeaders = headers;
  if (call.credentials) {
    const signer = new SignatureV4({
      credentials: call.credentials,
      region: 'us-east-1',
      service: call.service ?? 'execute-api',
      sha256: Sha256,
    });
    const signed = await signer.sign(
      {
        method: call.method,
        protocol: url.protocol,
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        ...(call.body === undefined ? {} : { body: call.body }),
      },
      call.signingDate ? { signingDate: call.signingDate } : {},
    );
    finalHeaders = signed.headers as Record<string, string>;
  }
  const request = { headers: { ...finalHeaders }, ...(call.body === undefined ? {} : { body: call.body }) };
  call.tamper?.(request);
  delete request.headers.host;
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
