import { createHash, timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/** Who may sign requests to the local gateway (`TVM_CALLERS`). */
export interface CallerKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly principalArn: string;
  /** Temporary credentials' session token: requests must then present exactly this one. */
  readonly sessionToken?: string;
}

export interface VerifiedCaller {
  readonly accessKeyId: string;
  readonly principalArn: string;
}

export interface SignedRequest {
  readonly method: string;
  /** The request target as sent: raw path and query. */
  readonly target: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** Why a request was refused, in API Gateway's words. */
export class SignatureError extends Error {
  override readonly name = 'SignatureError';
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;
/** API Gateway refuses a signature more than 5 minutes from its clock. */
const MAX_SKEW_MS = 5 * 60 * 1000;

function header(headers: SignedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function sameSessionToken(presented: string | undefined, expected: string | undefined): boolean {
  if (presented === undefined || expected === undefined) return presented === expected;
  const [a, b] = [Buffer.from(presented), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}

function parseAmzDate(value: string | undefined): Date | undefined {
  const match = value && /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return match
    ? new Date(`${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}Z`)
    : undefined;
}

function parseQuery(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(search)) {
    const existing = query[name];
    query[name] =
      existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return query;
}

/**
 * Verifies an AWS Signature Version 4 `Authorization` header (service `execute-api` unless told), as API Gateway does
 * for AWS_IAM methods: the signature is recomputed with the caller's secret key over exactly the headers the
 * client signed, and compared in constant time. The body counts: its hash is part of the signature.
 */
export async function verifySigV4(
  request: SignedRequest,
  callers: ReadonlyMap<string, CallerKey>,
  {
    service: expectedService = 'execute-api',
    now = Date.now,
    region: expectedRegion,
    hosts,
  }: {
    service?: string;
    now?: () => number;
    /** The region the credential scope must name, as API Gateway checks its own. */
    region?: string;
    /** The `Host` values the signature may be for: the endpoint's own names. */
    hosts?: readonly string[];
  } = {},
): Promise<VerifiedCaller> {
  const authorization = header(request.headers, 'authorization');
  if (!authorization) throw new SignatureError('Missing Authentication Token');
  const match = AUTHORIZATION.exec(authorization.trim());
  if (!match)
    throw new SignatureError(
      'Authorization header requires Credential, SignedHeaders and Signature (AWS4-HMAC-SHA256).',
    );
  const [, accessKeyId = '', scopeDate, region = '', service, signedHeaderList = '', signature = ''] = match;
  if (service !== expectedService) {
    throw new SignatureError(`Credential should be scoped to correct service: '${expectedService}'.`);
  }
  if (expectedRegion !== undefined && region !== expectedRegion) {
    throw new SignatureError(`Credential should be scoped to a valid region, not '${region}'. `);
  }

  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host')) throw new SignatureError("'Host' must be a signed header.");
  const host = header(request.headers, 'host')?.toLowerCase();
  if (hosts !== undefined && (host === undefined || !hosts.includes(host))) {
    throw new SignatureError('The request was signed for another host.');
  }
  const amzDate = header(request.headers, 'x-amz-date');
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate || !signedHeaders.includes('x-amz-date')) {
    throw new SignatureError("Authorization header requires a signed 'X-Amz-Date' header.");
  }
  if (amzDate?.slice(0, 8) !== scopeDate)
    throw new SignatureError('Credential date does not match X-Amz-Date.');
  if (Math.abs(now() - signingDate.getTime()) > MAX_SKEW_MS) throw new SignatureError('Signature expired.');

  const caller = callers.get(accessKeyId);
  if (!caller) throw new SignatureError('The security token included in the request is invalid.');
  // As STS credentials are checked: a session token is part of them, so a missing, extra or wrong one
  // (signed or not) is refused.
  const presentedToken = header(request.headers, 'x-amz-security-token');
  if (!sameSessionToken(presentedToken, caller.sessionToken)) {
    throw new SignatureError('The security token included in the request is invalid.');
  }

  const bodyHash = createHash('sha256').update(request.body).digest('hex');
  const declaredHash = header(request.headers, 'x-amz-content-sha256');
  if (declaredHash !== undefined && declaredHash !== bodyHash) {
    throw new SignatureError('The request body does not match its x-amz-content-sha256.');
  }

  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = header(request.headers, name);
    if (value === undefined) throw new SignatureError(`Signed header '${name}' is missing from the request.`);
    headers[name] = value;
  }
  const url = new URL(request.target, 'http://gateway.invalid');
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: caller.secretAccessKey },
    region,
    service: expectedService,
    sha256: Sha256,
    uriEscapePath: true,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: 'gateway.invalid',
      path: url.pathname,
      query: parseQuery(url.search),
      headers,
      body: request.body,
    },
    { signingDate, signableHeaders: new Set(signedHeaders), unsignableHeaders: new Set() },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1] ?? '';
  const matches =
    expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
  if (!matches) {
    throw new SignatureError(
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return { accessKeyId, principalArn: caller.principalArn };
}
