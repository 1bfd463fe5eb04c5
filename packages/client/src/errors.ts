import type { ErrorCode } from './wire-contract';

/** The service's error codes (docs/api contract), plus what can go wrong before an answer arrives. */
export type TvmErrorCode =
  | ErrorCode
  /** No answer: connection refused, DNS, TLS. */
  | 'network_error'
  /** No whole answer within the client's `timeoutMs` (from every endpoint tried). */
  | 'timeout'
  /** An answer that is not the service's JSON. */
  | 'invalid_response'
  /** `authorizedFetch` was asked to send a token to an origin not on its list. */
  | 'origin_not_allowed'
  /** No AWS credentials to sign with: none in the environment, profile, container or instance role. */
  | 'no_credentials';

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
    /** What went wrong underneath (the network error, the credential provider's), kept for debugging. */
    options: { readonly cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }

  get status(): number | undefined {
    return this.details.status;
  }
}
