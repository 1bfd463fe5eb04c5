/**
 * The closed set of errors a caller can see (docs/DESIGN.md, "Errors"). Only the handler turns them into HTTP;
 * everything below it throws {@link VendError} and never builds a response.
 */
import { ERROR_STATUS, type ErrorCode } from '../packages/client/src/wire-contract';

export { ERROR_STATUS, type ErrorCode };

export interface VendErrorDetails {
  /** The provider's own OAuth `error` code, for `upstream_rejected` (sanitised: printable ASCII only). */
  readonly upstreamError?: string;
  /** The HTTP status the provider answered with, where there was one. */
  readonly upstreamStatus?: number;
  /** Seconds a caller should wait before trying again, for `upstream_unavailable` and `service_unavailable`. */
  readonly retryAfterSeconds?: number;
  /** Epoch ms before which nobody asks the provider again (its Retry-After, or its backoff); never sent. */
  readonly retryAtMs?: number;
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

/** How one exchange with a provider went: attempts, latency and the last status. */
export interface UpstreamExchange {
  readonly status?: number;
  readonly attempts: number;
  readonly latencyMs: number;
}

/** A {@link VendError} from the provider's token endpoint that also says how the exchange went. */
export class UpstreamError extends VendError {
  constructor(
    error: VendError,
    readonly upstream: UpstreamExchange,
  ) {
    super(error.code, error.message, error.details);
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
