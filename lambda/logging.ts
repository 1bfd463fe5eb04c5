import { Logger } from '@aws-lambda-powertools/logger';

/**
 * What the function logs through: Powertools' Logger satisfies it, and tests can hand in their own. Log
 * attributes are chosen field by field; no secret, private key or token is ever one of them.
 */
export interface Log {
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}

export function createLogger(): Logger {
  return new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'token-vending' });
}

/** An error's kind and message for a log line; never its `cause`, which may hold a provider's response body. */
export function describeError(error: unknown): { error_name: string; error_message: string } {
  // Duck-typed: an error thrown by Node's fetch or the SDK may come from another realm than this code.
  const { name, message } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: unknown;
    message?: unknown;
  };
  if (typeof name === 'string' && typeof message === 'string') {
    return { error_name: name, error_message: message.slice(0, 500) };
  }
  return { error_name: typeof error, error_message: 'non-Error thrown' };
}
