import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigurationError } from '../errors';
import { type ClientCredentials, type CredentialSource, parseSecretDocument } from './client-credentials';

export interface SecretsManagerCredentialSourceOptions {
  readonly client?: SecretsManagerClient;
  /**
   * How long a secret stays cached in the container. Rotation is seen within this time, or at once after
   * the provider rejects the client.
   * @default 300
   */
  readonly maxAgeSeconds?: number;
}

/** Reads provider credentials from Secrets Manager through Powertools Parameters, which owns the caching. */
export class SecretsManagerCredentialSource implements CredentialSource {
  private readonly provider: SecretsProvider;
  private readonly maxAgeSeconds: number;
  private readonly stale = new Set<string>();

  constructor(options: SecretsManagerCredentialSourceOptions = {}) {
    this.provider = new SecretsProvider(options.client ? { awsSdkV3Client: options.client } : {});
    this.maxAgeSeconds = options.maxAgeSeconds ?? 300;
  }

  async get(secretId: string): Promise<ClientCredentials> {
    const forceFetch = this.stale.delete(secretId);
    let value: unknown;
    try {
      value = await this.provider.get(secretId, { maxAge: this.maxAgeSeconds, forceFetch });
    } catch (error) {
      // The SDK's message names the secret and the fault, never its value.
      const cause = (error as { cause?: { name?: string } }).cause?.name ?? (error as Error).name;
      throw new ConfigurationError(`cannot read secret ${secretId} from Secrets Manager (${cause})`);
    }
    return parseSecretDocument(secretId, typeof value === 'string' ? value : undefined);
  }

  invalidate(secretId: string): void {
    this.stale.add(secretId);
  }
}
