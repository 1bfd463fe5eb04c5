import { TvmError } from '../errors';

/**
 * `tvm`'s answer to a failed command: one line, "tvm: <code>: <what happened> — <what to do>". The code is
 * the service's (or the client's) error code, so scripts can branch on it; the stack is for --debug.
 */
export function failureLine(error: unknown): string {
  if ((error as { name?: unknown }).name === 'CredentialsProviderError') {
    return failureLine(new TvmError('no_credentials', 'No AWS credentials to sign with.'));
  }
  if (!(error instanceof TvmError)) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    return `tvm: error: ${message} — run again with --debug for details`;
  }
  const upstream = error.details.upstreamError ? ` (upstream: ${error.details.upstreamError})` : '';
  return `tvm: ${error.code}: ${error.message.split('\n')[0]}${upstream} — ${hintFor(error)}`;
}

function hintFor(error: TvmError): string {
  const requestId = error.details.requestId ? ` (request id ${error.details.requestId})` : '';
  switch (error.code) {
    case 'no_credentials':
      return 'set AWS_PROFILE (then `aws sso login` if it uses SSO), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';
    case 'network_error':
    case 'timeout':
      return 'check --endpoint (or TVM_ENDPOINTS, TVM_ENDPOINT) and the network';
    case 'access_denied':
      return "check the provider id, that this caller's role is in the provider's callers, and --region";
    case 'throttled':
      return error.details.retryAfterSeconds === undefined
        ? 'wait a little and run again'
        : `wait ${error.details.retryAfterSeconds} s and run again`;
    case 'invalid_request':
      return 'check the scopes, audience and --min-ttl (tvm --help)';
    case 'invalid_response':
      return "check that --endpoint (or TVM_ENDPOINT) is the API's URL, stage included";
    case 'origin_not_allowed':
      return 'add the origin to the list the token may go to';
    case 'upstream_rejected':
    case 'upstream_invalid_response':
      return `the provider refused or garbled the grant: check the provider's secret and entry${requestId}`;
    default:
      return `run again later; if it persists, look up the service's logs${requestId}`;
  }
}

/** The stack of the failure and of what caused it, for --debug. */
export function debugDetails(error: unknown): string {
  const lines: string[] = [];
  for (let current: unknown = error, depth = 0; current !== undefined && depth < 5; depth++) {
    lines.push(current instanceof Error ? (current.stack ?? current.message) : String(current));
    current = current instanceof Error ? current.cause : undefined;
    if (current !== undefined) lines.push('caused by:');
  }
  return lines.join('\n');
}
