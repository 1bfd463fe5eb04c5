import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../errors';
import { type ClientCredentials, type CredentialSource, parseSecretDocument } from './client-credentials';

/**
 * Secrets held in memory: the local run's `TVM_SECRETS` file (`{"<secretId>": {...}}`), and tests. Each
 * value has the shape a Secrets Manager secret has.
 */
export class StaticCredentialSource implements CredentialSource {
  private readonly secrets: ReadonlyMap<string, ClientCredentials>;

  constructor(documents: Readonly<Record<string, unknown>>) {
    this.secrets = new Map(
      Object.entries(documents).map(([secretId, value]) => [
        secretId,
        parseSecretDocument(secretId, JSON.stringify(value)),
      ]),
    );
  }

  static fromFile(path: string): StaticCredentialSource {
    let documents: unknown;
    try {
      documents = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      throw new ConfigurationError(`secrets file ${path} is missing or not JSON`);
    }
    if (typeof documents !== 'object' || documents === null || Array.isArray(documents)) {
      throw new ConfigurationError(`secrets file ${path} must be an object {"<secretId>": {...}}`);
    }
    return new StaticCredentialSource(documents as Record<string, unknown>);
  }

  async get(secretId: string): Promise<ClientCredentials> {
    const credentials = this.secrets.get(secretId);
    if (!credentials) throw new ConfigurationError(`secret ${secretId} is not in the secrets file`);
    return credentials;
  }

  async clientId(secretId: string): Promise<string> {
    return (await this.get(secretId)).clientId;
  }

  invalidate(): void {
    // Nothing to refresh: the file was read once at start-up.
  }
}
