/**
 * The operator tools' answer to an AWS SDK failure: one line naming what to do, never the SDK's stack.
 * `undefined` for a failure no operator could act on (a bug): the caller says so and points at --debug.
 */

/** What the failed call was about, for the hint. */
export interface AwsCallContext {
  /** `Secrets Manager PutSecretValue`, as the line names it. */
  readonly operation: string;
  /** The resource the call named, e.g. the secret id. */
  readonly resource?: string;
  /** The IAM action the credentials need on `resource`. */
  readonly action?: string;
  /** What names the resource, to check when it is not found. @default the providers file (--providers) */
  readonly names?: string;
}

interface SdkErrorShape {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly code?: unknown;
  readonly cause?: { readonly code?: unknown };
  readonly $metadata?: { readonly httpStatusCode?: unknown };
  readonly $response?: { readonly statusCode?: unknown };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Endpoint refused or unresolvable, access denied, throttled, not found, no region, no credentials. */
export function describeAwsFailure(error: unknown, context: AwsCallContext): string | undefined {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = typeof shape.name === 'string' ? shape.name : '';
  const message = typeof shape.message === 'string' ? shape.message : '';
  const status = shape.$metadata?.httpStatusCode ?? shape.$response?.statusCode;
  const networkCode = [shape.code, shape.cause?.code].find(
    (code): code is string => typeof code === 'string' && NETWORK_CODES.has(code),
  );
  const on = context.resource ? ` on ${context.resource}` : '';

  if (/region is missing/i.test(message)) {
    return 'no AWS region: set AWS_REGION (or AWS_PROFILE for a profile that names one) and run again';
  }
  if (name === 'CredentialsProviderError') {
    return 'no AWS credentials: set AWS_PROFILE (then `aws sso login` if it uses SSO), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and run again';
  }
  if (networkCode) {
    return `cannot reach ${context.operation}'s endpoint (${networkCode}): check the network, AWS_REGION and any AWS_ENDPOINT_URL* variable, then run again`;
  }
  if (name === 'TimeoutError' || name === 'RequestTimeout') {
    return `${context.operation} did not answer in time: check the network and run again`;
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied' || status === 403) {
    const action = context.action ? ` ${context.action}${on}` : on;
    return `access denied to ${context.operation}${on}: use credentials whose role is allowed${action}`;
  }
  if (
    name === 'UnrecognizedClientException' ||
    name === 'InvalidSignatureException' ||
    name === 'ExpiredTokenException'
  ) {
    return `AWS refused the credentials (${name}): they are wrong or expired; renew them (e.g. \`aws sso login\`) and run again`;
  }
  if (name === 'ThrottlingException' || name === 'TooManyRequestsException' || status === 429) {
    return `throttled by ${context.operation}: wait a few seconds and run again`;
  }
  if (name === 'ResourceNotFoundException' || name === 'NotFoundException') {
    return `${context.resource ?? 'the resource'} does not exist in this account and region: deploy the stack first (it creates it), or check ${context.names ?? 'the providers file (--providers)'} and AWS_REGION`;
  }
  return undefined;
}

/** The one line for a failure nobody expected; the stack is for --debug. */
export function unexpectedFailure(error: unknown): string {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = typeof shape.name === 'string' ? shape.name : 'Error';
  const message = (typeof shape.message === 'string' ? shape.message : String(error)).split('\n')[0];
  return `unexpected ${name}: ${message}; run again with --debug for details`;
}

/** `--debug` on the command line, or CDK_DEBUG (what `cdk synth --debug` sets for the app) or TVM_DEBUG. */
export function debugRequested(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  return argv.includes('--debug') || ['1', 'true'].includes(env.CDK_DEBUG ?? '') || Boolean(env.TVM_DEBUG);
}
