import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigurationError } from '../errors';
import {
  type ClientCredentials,
  type CredentialSource,
  parseSecretDocument,
  SecretStoreUnavailableError,
} from './client-credentials';

export interface SecretsManagerCredentialSourceOptions {
  readonly client?: SecretsManagerClient;
  /**
   * How long a secret stays cached in the container. Rotation is seen within this time, or at once after
   * the provider rejects the client.
   * @default 300
   */
  readonly maxAgeSeconds?: number;
  /** One read, retries included, may take this long; past it Secrets Manager counts as unavailable. @default 3000 */
  readonly timeoutMs?: number;
}

/** Secrets Manager's answers that say the secret or the function's access to it is wrong, not that it is down. */
const MISCONFIGURATION = new Set([
  'ResourceNotFoundException',
  'AccessDeniedException',
  'DecryptionFailure',
  'InvalidRequestException',
  'InvalidParameterException',
  'ValidationException',
]);

/** A Secrets Manager client bounded at the socket: a hung endpoint fails the read instead of the function. */
export function createSecretsClient(
  config: ConstructorParameters<typeof SecretsManagerClient>[0] = {},
): SecretsManagerClient {
  return new SecretsManagerClient({
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 },
    ...config,
  });
}

/** Reads provider credentials from Secrets Manager through Powertools Parameters, which owns the caching. */
export class SecretsManagerCredentialSource implements CredentialSource {
  private readonly provider: SecretsProvider;
  private readonly maxAgeSeconds: number;
  private readonly timeoutMs: number;
  private readonly stale = new Set<string>();

  constructor(options: SecretsManagerCredentialSourceOptions = {}) {
    this.provider = new SecretsProvider({ awsSdkV3Client: options.client ?? createSecretsClient() });
    this.maxAgeSeconds = options.maxAgeSeconds ?? 300;
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  async get(secretId: string): Promise<ClientCredentials> {
    const forceFetch = this.stale.delete(secretId);
    let value: unknown;
    let timer: NodeJS.Timeout | undefined;
    try {
      value = await Promise.race([
        this.provider.get(secretId, { maxAge: this.maxAgeSeconds, forceFetch }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new SecretReadTimeout()), this.timeoutMs);
        }),
      ]);
    } catch (error) {
      if (forceFetch) this.stale.add(secretId);
      // The SDK's message names the secret and the fault, never its value.
      const cause = (error as { cause?: { name?: string } }).cause?.name ?? (error as Error).name;
      if (MISCONFIGURATION.has(cause)) {
        throw new ConfigurationError(`cannot read secret ${secretId} from Secrets Manager (${cause})`);
      }
      throw new SecretStoreUnavailableError(secretId, cause);
    } finally {
      clearTimeout(timer);
    }
    return parseSecretDocument(secretId, typeof value === 'string' ? value : undefined);
  }

  async clientId(secretId: string): Promise<string> {
    return (await this.get(secretId)).clientId;
  }

  invalidate(secretId: string): void {
    this.stale.add(secretId);
  }
}

class SecretReadTimeout extends Error {
  override readonly name = 'TimeoutError';
}
