/**
 * The closed set of errors a caller can see (DESIGN.md, "Errors"). Only the handler turns them into HTTP;
 * everything below it throws {@link VendError} and never builds a response.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  access_denied: 403,
  unknown_provider: 404,
  upstream_rejected: 502,
  upstream_invalid_response: 502,
  upstream_unavailable: 503,
  upstream_timeout: 504,
  service_unavailable: 503,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface VendErrorDetails {
  /** The provider's own OAuth `error` code, for `upstream_rejected` (sanitised: printable ASCII only). */
  readonly upstreamError?: string;
  /** The HTTP status the provider answered with, where there was one. */
  readonly upstreamStatus?: number;
  /** Seconds a caller should wait before trying again, for `upstream_unavailable` and `service_unavailable`. */
  readonly retryAfterSeconds?: number;
}

export class VendError extends Error {
  override readonly name = 'VendError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: VendErrorDetails = {},
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const isVendError = (error: unknown): error is VendError => error instanceof VendError;

/**
 * A misconfiguration found while loading providers or secrets. Its message lists every problem and never
 * quotes a value, because the values may be secret.
 */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';

  constructor(
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(problems.length > 0 ? `${message}:\n  - ${problems.join('\n  - ')}` : message);
  }
}
