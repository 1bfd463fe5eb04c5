/**
 * One provider entry, as a providers file holds it (docs/providers.md describes every field). The construct
 * validates entries at synth against the function's own schema; this interface is what an adopter's editor
 * shows, and a compile-time test holds it equal to that schema's input.
 */
export interface ProviderEntry {
  /** Lower-case letters, digits and dashes: the path segment of `/v1/tokens/{provider}`. */
  readonly id: string;
  readonly description?: string;
  /** An https URL. */
  readonly tokenEndpoint: string;
  /** @default 'client_credentials' */
  readonly grantType?: 'client_credentials' | 'jwt_bearer';
  /** `none` exactly with `jwt_bearer`. */
  readonly clientAuth:
    | 'client_secret_basic'
    | 'client_secret_post'
    | 'client_secret_jwt'
    | 'private_key_jwt'
    | 'tls_client_auth'
    | 'none';
  /** The JWT-bearer grant's assertion, with `grantType: 'jwt_bearer'` only. */
  readonly assertion?: {
    readonly audience: string;
    /** @default 120 */
    readonly lifetimeSeconds?: number;
    /** @default 'kid' */
    readonly header?: 'kid' | 'x5c';
    /** @default 'RS256' */
    readonly algorithm?: 'RS256' | 'RS384' | 'RS512';
    readonly resource?: readonly string[];
  };
  /** Fixed parameters sent with every token request (not the OAuth parameters the service sets). */
  readonly extraParameters?: Readonly<Record<string, string>>;
  /** @default 'form' */
  readonly bodyEncoding?: 'form' | 'json';
  /** The Secrets Manager secret holding the client credentials: a name, or a complete ARN. */
  readonly secretId: string;
  /** @default 'none' */
  readonly audienceParameter?: 'audience' | 'resource' | 'none';
  readonly defaultAudience?: string;
  /** @default [] */
  readonly allowedAudiences?: readonly string[];
  /** Required (at least one) with `jwt_bearer`, and when `allowedScopes` is not empty. @default [] */
  readonly defaultScopes?: readonly string[];
  /** @default [] */
  readonly allowedScopes?: readonly string[];
  /** @default [] */
  readonly extraGrantedScopes?: readonly string[];
  /**
   * IAM role or user ARNs (or `"*"`) that may vend: the API's resource policy admits exactly these.
   * @default [] (nobody)
   */
  readonly callers?: ReadonlyArray<
    | string
    | {
        readonly principal: string;
        readonly scopes?: readonly string[];
        readonly audiences?: readonly string[];
      }
  >;
  /** @default 60 */
  readonly refreshMarginSeconds?: number;
  /** @default 5000 */
  readonly timeoutMs?: number;
  /** @default 3 */
  readonly maxAttempts?: number;
  readonly maxTokenLifetimeSeconds?: number;
  /** @default { perCallerPerMinute: 30, perMinute: 120 } */
  readonly upstreamBudget?: { readonly perCallerPerMinute?: number; readonly perMinute?: number };
  /**
   * The provider's token quota: the stack alarms when a day's minting passes 80 % of the pace that spends it.
   * @default an alarm at {@link DEFAULT_DAILY_TOKENS} tokens a day
   */
  readonly tokenQuota?: { readonly tokens: number; readonly periodDays: number };
  /** @default 'RS256' */
  readonly assertionAlgorithm?: 'RS256' | 'PS256' | 'ES256';
  /**
   * Sign the assertion with an asymmetric KMS key the stack creates (`"create"`) or one named by ARN, instead
   * of a private key in the secret; `next` is registered with the provider ahead of a switch.
   */
  readonly signingKey?: SigningKeySetting & { readonly next?: SigningKeySetting };
}

/** One KMS signing key of a provider entry (docs/providers.md, `signingKey`). */
export interface SigningKeySetting {
  readonly kms: 'create' | string;
  /** Names a created key, so that it keeps its resource when it moves from `next` to current. @default '1' */
  readonly name?: string;
  readonly algorithm: 'RS256' | 'PS256' | 'ES256';
  /** A created RSA key's size. @default 'RSA_2048' */
  readonly keySpec?: 'RSA_2048' | 'RSA_3072';
  /** The kid the provider fixed; @default the key's RFC 7638 thumbprint */
  readonly kid?: string;
  /** For an x5c header: base64 DER, leaf first. */
  readonly certificateChain?: readonly string[];
}

/**
 * Tokens a day above which a provider without a `tokenQuota` alarms. A cache key refreshes about once per
 * token lifetime: even 300-second tokens for a handful of scope and audience sets stay well under it, so
 * passing it means a caller evicts or varies its selectors far more than it should.
 */
export const DEFAULT_DAILY_TOKENS = 2000;
