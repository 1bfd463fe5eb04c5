import { cacheKey } from './cache/cache-key';
import { type CallerGrant, callerGrant, resolveSelectors } from './caller-policy';
import { type ProviderConfig, signingKeyIdentity } from './config/provider-schema';
import type { CredentialSource } from './credentials/client-credentials';
import { VendError } from './errors';
import { Freshness } from './freshness';
import type { ResolvedSelectors, VendRequest } from './model';

/** Everything one vend needs to know, worked out once: which provider, what exactly, under which key. */
export interface VendContext {
  /** The caller, as its `callers` entry names it. */
  readonly principal: string;
  readonly provider: ProviderConfig;
  readonly selectors: ResolvedSelectors;
  readonly key: string;
  readonly minTtlSeconds?: number;
  readonly freshness: Freshness;
}

/** The request policy: who may ask what of which provider, and the cache key of the answer. */
export class RequestPolicy {
  private readonly providers: ReadonlyMap<string, ProviderConfig>;
  private readonly anyCallerAccounts: ReadonlySet<string>;

  constructor(
    providers: readonly ProviderConfig[],
    private readonly credentials: CredentialSource,
    /** The accounts a `"*"` entry admits (`TVM_ANY_CALLER_ACCOUNTS`). */
    anyCallerAccounts: readonly string[],
  ) {
    this.providers = new Map(providers.map((provider) => [provider.id, provider]));
    this.anyCallerAccounts = new Set(anyCallerAccounts);
  }

  /** The providers this caller may vend from, each with what this caller may ask of it. */
  allowedProviders(principal: string | undefined): Array<{ provider: ProviderConfig; grant: CallerGrant }> {
    return [...this.providers.values()].flatMap((provider) => {
      const grant = callerGrant(provider, principal, this.anyCallerAccounts);
      return grant ? [{ provider, grant }] : [];
    });
  }

  async contextFor(
    principal: string | undefined,
    providerId: string,
    request: VendRequest,
  ): Promise<VendContext> {
    const provider = this.providers.get(providerId);
    const grant = provider ? callerGrant(provider, principal, this.anyCallerAccounts) : undefined;
    // One answer for a provider that does not exist and one this caller may not use: ids cannot be probed.
    if (!provider || !grant) {
      throw new VendError('access_denied', `No provider "${providerId}" that this caller may vend from.`);
    }
    const selectors = resolveSelectors(provider, grant, request);
    // The client id is part of the key; it comes from the last good read of the secret, not a fresh one.
    const key = cacheKey({
      providerId: provider.id,
      tokenEndpoint: provider.tokenEndpoint,
      clientId: await this.credentials.clientId(provider.secretId),
      scopes: selectors.scopes,
      ...(selectors.audience === undefined ? {} : { audience: selectors.audience }),
      ...(provider.signingKey ? { signingKey: signingKeyIdentity(provider.signingKey) } : {}),
    });
    return {
      principal: principal as string,
      provider,
      selectors,
      key,
      ...(request.minTtlSeconds === undefined ? {} : { minTtlSeconds: request.minTtlSeconds }),
      freshness: new Freshness(provider, key, request.minTtlSeconds),
    };
  }
}
