import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

export interface SignableRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/**
 * Signs a request with AWS Signature Version 4 for `execute-api` (or another service), using the AWS SDK's
 * own signer: the headers returned include `authorization`, `x-amz-date` and, for temporary credentials,
 * `x-amz-security-token`.
 */
export async function signRequest(
  request: SignableRequest,
  options: {
    readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
    readonly region: string;
    readonly service?: string;
    readonly signingDate?: Date;
  },
): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    credentials: options.credentials,
    region: options.region,
    service: options.service ?? 'execute-api',
    sha256: Sha256,
  });
  const { url } = request;
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...request.headers, host: url.host },
      ...(request.body === undefined ? {} : { body: request.body }),
    },
    options.signingDate ? { signingDate: options.signingDate } : {},
  );
  const headers = { ...(signed.headers as Record<string, string>) };
  // fetch sets Host itself from the URL; it is signed all the same.
  delete headers.host;
  return headers;
}
