import type { CredentialSource } from './credentials/client-credentials';
import { VendError } from './errors';
import { grantedBeyondRequest } from './oauth/granted-scope';
import type { TokenClient, TokenGrantResult, UpstreamAttempts } from './oauth/token-client';
import type { VendContext } from './vend-context';

/**
 * Asks the provider for one token: the client's secret, the grant, and a check that nothing beyond what
 * was asked was granted. What is kept, for whom and for how long, is the vendor's to decide.
 */
export class UpstreamGrant {
  constructor(
    private readonly parts: {
      readonly credentials: CredentialSource;
      readonly tokenClient: TokenClient;
      /** The provider's shared backoff, told of each attempt. @default none */
      readonly attempts?: UpstreamAttempts;
    },
  ) {}

  async fetch(context: Pick<VendContext, 'provider' | 'selectors'>): Promise<TokenGrantResult> {
    const { provider, selectors } = context;
    const { credentials, tokenClient } = this.parts;
    let result: TokenGrantResult;
    try {
      const secret = await credentials.get(provider.secretId);
      result = await tokenClient.requestToken(
        { provider, credentials: secret, ...selectors },
        this.parts.attempts,
      );
    } catch (error) {
      // The secret may have rotated since it was cached: read it afresh next time.
      if (error instanceof VendError && error.details.upstreamError === 'invalid_client') {
        credentials.invalidate(provider.secretId);
      }
      throw error;
    }
    const beyond = grantedBeyondRequest(result.token, selectors, provider.extraGrantedScopes);
    if (beyond) {
      // Never cached, never served: the caller would hold more than it may ask for.
      throw new VendError(
        'upstream_invalid_response',
        `Provider "${provider.id}" granted more than was asked: ${beyond}.`,
      );
    }
    return result;
  }
}
