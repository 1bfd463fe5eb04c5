/** The service's error codes (DESIGN.md), plus what can go wrong before an answer arrives. */
export type TvmErrorCode =
  | 'invalid_request'
  | 'access_denied'
  | 'unknown_provider'
  | 'upstream_rejected'
  | 'upstream_invalid_response'
  | 'upstream_unavailable'
  | 'upstream_timeout'
  /** A dependency of the service (Secrets Manager) is unavailable; retried like 503s. */
  | 'service_unavailable'
  | 'internal_error'
  /** No answer: connection refused, DNS, TLS. */
  | 'network_error'
  /** An answer that is not the service's JSON. */
  | 'invalid_response';

/** A failed call, with the service's `error` code so callers branch on it, not on the text. */
export class TvmError extends Error {
  override readonly name = 'TvmError';

  constructor(
    readonly code: TvmErrorCode,
    message: string,
    readonly details: {
      readonly status?: number;
      readonly requestId?: string;
      readonly upstreamError?: string;
      readonly retryAfterSeconds?: number;
    } = {},
  ) {
    super(message);
  }

  get status(): number | undefined {
    return this.details.status;
  }
}
