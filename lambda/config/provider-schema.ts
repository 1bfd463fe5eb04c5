import * as z from 'zod/mini';
import { isIpv6FormOfIpv4 } from './private-endpoints';
import './zod-locale';

/**
 * RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. Providers put `#`, `:`, `/` and `.`
 * in scope names (BCC's `persons.name#read`), so nothing narrower would do.
 */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Token-request parameters the service sets itself; `extraParameters` may not name them. */
const RESERVED_PARAMETERS = new Set([
  'grant_type',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'assertion',
  'scope',
  'audience',
  'resource',
  'code',
  'code_verifier',
  'redirect_uri',
  'refresh_token',
  'username',
  'password',
]);

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Loopback, where local runs and tests serve plain http: the one list of such host names. */
export const isLoopbackHost = (hostname: string): boolean => LOOPBACK_HOSTS.has(hostname);

/**
 * A token endpoint must be https, except on loopback where local runs and tests serve plain http. A host with
 * a trailing dot (`localhost.`) or an IPv6 literal standing for an IPv4 address (`[::ffff:127.0.0.1]`,
 * `[64:ff9b::a9fe:a9fe]`) is refused: each is another spelling of an address a simpler check would know.
 */
export function isAcceptableTokenEndpoint(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password || url.hash) return false;
  if (url.hostname.endsWith('.')) return false;
  if (url.hostname.startsWith('[') && isIpv6FormOfIpv4(url.hostname.slice(1, -1))) return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/** An IAM role or user ARN; assumed-role session ARNs are normalised to their role before matching. */
const CALLER_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/;

const scopeList = z.array(
  z.string().check(z.regex(SCOPE_TOKEN, 'must be an RFC 6749 scope-token (no spaces or quotes)')),
);
const text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));
// zod/mini types `_default`'s value through a conditional type that a generic `T` cannot satisfy; the
// signature here still ties the default to the schema's output.
const withDefault = <T extends z.ZodMiniType>(schema: T, value: z.output<T>) =>
  z._default(schema, value as never);
const whole = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));

const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;

/** Who a `callers` entry admits: a role by partition, account and name (a session ARN has no path), else the ARN. */
const callerIdentity = (principal: string): string => {
  const role = ROLE_ARN.exec(principal);
  return role ? `role:${role[1]}:${role[2]}:${role[3]}` : principal;
};

/** A KMS key by ARN (an alias would not do: IAM and key policies name keys by ARN). */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(?:mrk-)?[0-9a-f-]{32,36}$/;

/** One asymmetric KMS key a provider's assertions are signed with (docs/providers.md, `signingKey`). */
const signingKeySchema = z.strictObject({
  /** `"create"`: the stack creates the key; else an existing key's ARN (an imported business-certificate key). */
  kms: z.union([
    z.literal('create'),
    z
      .string()
      .check(z.regex(KMS_KEY_ARN, 'must be "create" or a KMS key ARN (arn:aws:kms:region:account:key/id)')),
  ]),
  /**
   * Names a key the stack creates, so that it keeps its resource (and its registration with the provider)
   * when it moves from `next` to the current key. @default "1"
   */
  name: z.optional(z.string().check(z.regex(/^[A-Za-z0-9]{1,16}$/, 'must be 1-16 letters or digits'))),
  algorithm: z.enum(['RS256', 'PS256', 'ES256']),
  /** For a created RSA key. @default "RSA_2048" */
  keySpec: z.optional(z.enum(['RSA_2048', 'RSA_3072'])),
  /** The `kid` the provider fixed at registration; else the key's RFC 7638 JWK thumbprint. */
  kid: z.optional(text(256)),
  /** For an `x5c` header: the certificate chain, leaf first, base64 DER (else the secret's `certificate_chain`). */
  certificateChain: z.optional(z.array(text(16_384)).check(z.minLength(1), z.maxLength(10))),
});

export type SigningKeyEntry = z.output<typeof signingKeySchema>;

/**
 * Fields no rule between fields reads. A problem in one of these (or an unknown field) does not hold the
 * rules back, so a file's problems are listed at once; a problem in any other field does, since a rule
 * would read a value that is not what it expects.
 */
const FIELDS_NO_RULE_READS = new Set<PropertyKey>([
  'id',
  'description',
  'tokenEndpoint',
  'bodyEncoding',
  'secretId',
  'extraGrantedScopes',
  'refreshMarginSeconds',
  'timeoutMs',
  'maxAttempts',
  'maxTokenLifetimeSeconds',
  'assertionAlgorithm',
]);

/** zod runs a rule only on an entry without problems unless told when: here, when what it reads is valid. */
const whenRuleInputsValid = {
  when: (payload: { issues: ReadonlyArray<{ code?: string; path?: readonly PropertyKey[] }> }) =>
    payload.issues.every(
      (issue) =>
        issue.code === 'unrecognized_keys' ||
        (issue.path !== undefined &&
          issue.path.length > 0 &&
          FIELDS_NO_RULE_READS.has(issue.path[0] as PropertyKey)),
    ),
};

export const ProviderEntrySchema = z
  .strictObject({
    id: z
      .string()
      .check(
        z.regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'must be lower-case letters, digits and dashes'),
      ),
    description: z.optional(z.string().check(z.maxLength(500))),
    tokenEndpoint: z
      .string()
      .check(
        z.refine(
          isAcceptableTokenEndpoint,
          'must be an https URL (http only on 127.0.0.1, localhost or [::1]), with no trailing dot in the host and no IPv6 form of an IPv4 address',
        ),
      ),
    /**
     * `client_credentials` (RFC 6749 §4.4), or `jwt_bearer` (RFC 7523 §2.1, Maskinporten): a JWT the service
     * signs with the secret's private key is the grant itself, and the client does not authenticate apart.
     */
    grantType: withDefault(z.enum(['client_credentials', 'jwt_bearer']), 'client_credentials'),
    /** How the client authenticates; `none` only with `jwt_bearer`. */
    clientAuth: z.enum([
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
      'tls_client_auth',
      'none',
    ]),
    /** The JWT-bearer grant's assertion (RFC 7523 §3), for `grantType: "jwt_bearer"`. */
    assertion: z.optional(
      z.strictObject({
        /** The assertion's `aud`: the authorization server's issuer (Maskinporten's `https://maskinporten.no/`). */
        audience: text(2048),
        /** `exp - iat`; Maskinporten allows at most 120. @default 120 */
        lifetimeSeconds: withDefault(whole(10, 120), 120),
        /** Name the key by `kid` (a key registered with the provider) or carry the certificate chain (`x5c`). */
        header: withDefault(z.enum(['kid', 'x5c']), 'kid'),
        algorithm: withDefault(z.enum(['RS256', 'RS384', 'RS512']), 'RS256'),
        /** Maskinporten's `resource` claim: the audiences the token is for. */
        resource: z.optional(z.array(text(2048)).check(z.minLength(1))),
      }),
    ),
    /**
     * Fixed parameters sent with every token request, for providers that want one (a vendor parameter, an RFC
     * 8707 `resource` the callers never choose). The OAuth parameters the service sets itself are refused.
     */
    extraParameters: z.optional(z.record(z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,64}$/)), text(2048))),
    bodyEncoding: withDefault(z.enum(['form', 'json']), 'form'),
    secretId: text(512),
    audienceParameter: withDefault(z.enum(['audience', 'resource', 'none']), 'none'),
    defaultAudience: z.optional(text(2048)),
    allowedAudiences: withDefault(z.array(text(2048)), []),
    defaultScopes: withDefault(scopeList, []),
    allowedScopes: withDefault(scopeList, []),
    /**
     * Scopes the provider adds on its own to every token (Keycloak's default client scopes `profile email`):
     * granted without being asked, they do not count as the provider granting more than was asked.
     */
    extraGrantedScopes: withDefault(scopeList, []),
    callers: withDefault(
      z.array(
        z.union([
          z.literal('*'),
          z.string().check(z.regex(CALLER_ARN, 'must be an IAM role or user ARN, or "*"')),
          // A caller limited to some of the provider's scopes and audiences.
          z.strictObject({
            principal: z.string().check(z.regex(CALLER_ARN, 'must be an IAM role or user ARN')),
            scopes: z.optional(scopeList),
            audiences: z.optional(z.array(text(2048))),
          }),
        ]),
      ),
      [],
    ),
    refreshMarginSeconds: withDefault(whole(0, 3600), 60),
    timeoutMs: withDefault(whole(100, 10_000), 5000),
    maxAttempts: withDefault(whole(1, 5), 3),
    /**
     * The longest a token of this provider is trusted and cached for, whatever its `expires_in` or JWT `exp`
     * says; a longer one is served as if it expired then. Never more than 366 days.
     */
    maxTokenLifetimeSeconds: z.optional(whole(60, 366 * 86_400)),
    /**
     * Requests to the provider per minute, across all containers: what one caller may cause, and what all
     * callers together may; and how many cached tokens one caller may evict (each eviction is charged to
     * its caller as the upstream request it causes). @default { perCallerPerMinute: 30, perMinute: 120,
     * evictionsPerCallerPerMinute: 10 }
     */
    upstreamBudget: z.optional(
      z.strictObject({
        perCallerPerMinute: z.optional(whole(1, 100_000)),
        perMinute: z.optional(whole(1, 1_000_000)),
        evictionsPerCallerPerMinute: z.optional(whole(1, 10_000)),
      }),
    ),
    /**
     * The provider's quota of tokens (Auth0 counts machine-to-machine tokens per month): the service mints at
     * most `tokens / (periodDays + 1)` a UTC day, shared among the callers (`lambda/budget/quota-budget.ts`),
     * and the stack alarms when tokens are minted at 80 % of the pace that would spend it within the period.
     */
    tokenQuota: z.optional(
      z
        .strictObject({ tokens: whole(1, 1_000_000_000), periodDays: whole(1, 31) })
        .check(
          z.refine(
            (quota) => quota.tokens >= quota.periodDays + 1,
            'must allow at least one token a day: tokens at least periodDays + 1 (any period touches periodDays + 1 UTC days)',
          ),
        ),
    ),
    /** JWS algorithm of the client assertion, for `private_key_jwt`. */
    assertionAlgorithm: withDefault(z.enum(['RS256', 'PS256', 'ES256']), 'RS256'),
    /**
     * Sign `private_key_jwt` or the JWT-bearer assertion with a KMS key instead of a private key in the
     * secret; `next` is the key registered ahead of a switch. Its `algorithm` is the assertion's.
     */
    signingKey: z.optional(z.extend(signingKeySchema, { next: z.optional(signingKeySchema) })),
  })
  .check(
    z.superRefine((entry, ctx) => {
      if ((entry.grantType === 'jwt_bearer') !== (entry.clientAuth === 'none')) {
        ctx.addIssue({
          code: 'custom',
          path: ['clientAuth'],
          message: 'is "none" exactly when grantType is "jwt_bearer": the signed assertion is the grant',
        });
      }
      if ((entry.grantType === 'jwt_bearer') !== (entry.assertion !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['assertion'],
          message: 'is required with grantType "jwt_bearer", and only then',
        });
      }
      // Maskinporten refuses a JWT-bearer grant without a scope: an entry without one could never vend.
      if (entry.grantType === 'jwt_bearer' && entry.defaultScopes.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['defaultScopes'],
          message:
            'must name at least one scope with grantType "jwt_bearer": the provider refuses a grant without one',
        });
      }
      if (entry.signingKey) checkSigningKey(entry, ctx);
      for (const name of Object.keys(entry.extraParameters ?? {})) {
        if (RESERVED_PARAMETERS.has(name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['extraParameters', name],
            message: 'is an OAuth parameter the service sets itself',
          });
        }
      }
      if (
        entry.audienceParameter === 'none' &&
        (entry.defaultAudience || entry.allowedAudiences.length > 0)
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['audienceParameter'],
          message: 'is "none" but audiences are configured; set "audience" or "resource"',
        });
      }
      if (entry.defaultAudience !== undefined && !entry.allowedAudiences.includes(entry.defaultAudience)) {
        ctx.addIssue({
          code: 'custom',
          path: ['defaultAudience'],
          message: 'must be one of allowedAudiences',
        });
      }
      if (entry.audienceParameter === 'resource') {
        entry.allowedAudiences.forEach((audience, index) => {
          if (!URL.canParse(audience)) {
            ctx.addIssue({
              code: 'custom',
              path: ['allowedAudiences', index],
              message: 'must be an absolute URI when sent as an RFC 8707 resource',
            });
          }
        });
      }
      // An allow-list without a default would send no scope (or audience), and a provider then grants its
      // own default, which may be everything the client has: a caller would get more than it may ask for.
      if (entry.allowedScopes.length > 0 && entry.defaultScopes.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['defaultScopes'],
          message: 'must name at least one scope when allowedScopes is not empty',
        });
      }
      if (entry.allowedAudiences.length > 0 && entry.defaultAudience === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['defaultAudience'],
          message: 'must be set when allowedAudiences is not empty',
        });
      }
      // The first entry that matches a caller decides its grant, so a principal listed twice (or beside "*")
      // would be limited by one entry and let through by another, depending on order: refused instead.
      const seen = new Map<string, number>();
      entry.callers.forEach((caller, index) => {
        const principal = typeof caller === 'string' ? caller : caller.principal;
        if (principal === '*' && entry.callers.length > 1) {
          ctx.addIssue({
            code: 'custom',
            path: ['callers', index],
            message:
              '"*" admits every principal: it must be the only entry, or the others would be overridden',
          });
        }
        const identity = callerIdentity(principal);
        const first = seen.get(identity);
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['callers', index],
            message: `names the same caller as callers[${first}] (${principal}): one entry per principal`,
          });
        } else {
          seen.set(identity, index);
        }
      });
      entry.callers.forEach((caller, index) => {
        if (typeof caller === 'string') return;
        // An empty list would read as "no limit" to one reader and "nothing" to another; absent already
        // means the provider's lists, so empty is refused rather than guessed at.
        for (const field of ['scopes', 'audiences'] as const) {
          if (caller[field]?.length === 0) {
            ctx.addIssue({
              code: 'custom',
              path: ['callers', index, field],
              message: `is empty for caller ${caller.principal}: leave it out for the provider's list, or name at least one`,
            });
          }
        }
        caller.scopes?.forEach((scope, scopeIndex) => {
          if (!entry.allowedScopes.includes(scope)) {
            ctx.addIssue({
              code: 'custom',
              path: ['callers', index, 'scopes', scopeIndex],
              message: 'must be one of allowedScopes',
            });
          }
        });
        caller.audiences?.forEach((audience, audienceIndex) => {
          if (!entry.allowedAudiences.includes(audience)) {
            ctx.addIssue({
              code: 'custom',
              path: ['callers', index, 'audiences', audienceIndex],
              message: 'must be one of allowedAudiences',
            });
          }
        });
      });
      entry.defaultScopes.forEach((scope, index) => {
        if (!entry.allowedScopes.includes(scope)) {
          ctx.addIssue({
            code: 'custom',
            path: ['defaultScopes', index],
            message: 'must be one of allowedScopes',
          });
        }
      });
    }, whenRuleInputsValid),
  );

/** Who the stack's key is, for the cache key and the stack's resource: a switch to `next` changes it. */
export function signingKeyIdentity(key: SigningKeyEntry): string {
  const where = key.kms === 'create' ? `create:${key.name ?? '1'}:${key.keySpec ?? 'default'}` : key.kms;
  return JSON.stringify([where, key.algorithm, key.kid ?? null]);
}

function checkSigningKey(
  entry: { clientAuth: string; grantType: string; signingKey?: SigningKeyEntry & { next?: SigningKeyEntry } },
  ctx: { addIssue: (issue: { code: 'custom'; path: PropertyKey[]; message: string }) => void },
): void {
  const { signingKey } = entry;
  if (!signingKey) return;
  if (entry.clientAuth !== 'private_key_jwt' && entry.grantType !== 'jwt_bearer') {
    ctx.addIssue({
      code: 'custom',
      path: ['signingKey'],
      message: 'is only for clientAuth "private_key_jwt" or grantType "jwt_bearer": nothing else signs',
    });
  }
  const keys: Array<[PropertyKey[], SigningKeyEntry]> = [[['signingKey'], signingKey]];
  if (signingKey.next) keys.push([['signingKey', 'next'], signingKey.next]);
  for (const [path, key] of keys) {
    if (key.kms !== 'create' && (key.name !== undefined || key.keySpec !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, key.name !== undefined ? 'name' : 'keySpec'],
        message: 'is only for a key the stack creates ("kms": "create")',
      });
    }
    if (key.keySpec !== undefined && key.algorithm === 'ES256') {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'keySpec'],
        message: 'is for RSA keys; an ES256 key is always ECC_NIST_P256',
      });
    }
  }
  if (signingKey.next && signingKeyIdentity(signingKey.next) === signingKeyIdentity(signingKey)) {
    ctx.addIssue({
      code: 'custom',
      path: ['signingKey', 'next'],
      message:
        'is the same key as the current one: give a created next key another "name", or name another ARN',
    });
  }
}

export const ProviderConfigFileSchema = z.strictObject({
  providers: z.array(ProviderEntrySchema).check(
    // Beside other entries' problems: an entry that is not valid still has the id it has.
    z.superRefine(
      (providers, ctx) => {
        const seen = new Set<string>();
        providers.forEach((provider, index) => {
          if (typeof provider?.id !== 'string') return;
          if (seen.has(provider.id)) {
            ctx.addIssue({
              code: 'custom',
              path: [index, 'id'],
              message: `duplicate provider id "${provider.id}"`,
            });
          }
          seen.add(provider.id);
        });
      },
      { when: (payload) => Array.isArray(payload.value) },
    ),
  ),
});

export type ProviderConfig = z.output<typeof ProviderEntrySchema>;
export type ProviderEntryInput = z.input<typeof ProviderEntrySchema>;
