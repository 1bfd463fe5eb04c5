import { type Clock, systemClock } from '../clock';
import { describeError, type Log } from '../logging';
import {
  type ClientCredentials,
  type CredentialSource,
  SecretStoreUnavailableError,
} from './client-credentials';

export interface LastGoodCredentialsOptions {
  readonly log: Log;
  /** @default the system clock */
  readonly clock?: Clock;
  /** After a failed refresh, the store is not asked again for this long; the last good value serves. @default 30000 */
  readonly retryAfterMs?: number;
}

/**
 * Keeps a secret store's outage off the vend path. The cache key needs only the client id, which is taken
 * from the last good read without asking the store again; a refresh that fails because the store is down
 * keeps the last good secret (logged as `secret_refresh_failed`). Only a container that never read the
 * secret meets the outage: `service_unavailable` with `Retry-After`, logged as `secret_store_unavailable`.
 * A missing or malformed secret is a misconfiguration and is never papered over.
 */
export class LastGoodCredentials implements CredentialSource {
  private readonly lastGood = new Map<string, ClientCredentials>();
  private readonly quietUntilMs = new Map<string, number>();
  private readonly log: Log;
  private readonly clock: Clock;
  private readonly retryAfterMs: number;

  constructor(
    private readonly source: CredentialSource,
    options: LastGoodCredentialsOptions,
  ) {
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
    this.retryAfterMs = options.retryAfterMs ?? 30_000;
  }

  async get(secretId: string): Promise<ClientCredentials> {
    const known = this.lastGood.get(secretId);
    if (known && this.clock.now() < (this.quietUntilMs.get(secretId) ?? 0)) return known;
    try {
      const credentials = await this.source.get(secretId);
      this.lastGood.set(secretId, credentials);
      this.quietUntilMs.delete(secretId);
      return credentials;
    } catch (error) {
      if (!(error instanceof SecretStoreUnavailableError)) throw error;
      const fields = { secret_id: secretId, cause: error.reason, ...describeError(error) };
      if (!known) {
        this.log.error('secret store unavailable and no secret read before', {
          event: 'secret_store_unavailable',
          ...fields,
        });
        throw error;
      }
      this.quietUntilMs.set(secretId, this.clock.now() + this.retryAfterMs);
      this.log.warn('secret refresh failed; using the last good secret', {
        event: 'secret_refresh_failed',
        ...fields,
      });
      return known;
    }
  }

  async clientId(secretId: string): Promise<string> {
    return this.lastGood.get(secretId)?.clientId ?? (await this.get(secretId)).clientId;
  }

  invalidate(secretId: string): void {
    this.quietUntilMs.delete(secretId);
    this.source.invalidate(secretId);
  }
}
