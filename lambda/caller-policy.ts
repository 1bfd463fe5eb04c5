import type { ProviderConfig } from './config/provider-schema';
import { DEFAULT_PARTITION } from './contracts/caller-accounts';
import { VendError } from './errors';
import type { ResolvedSelectors, VendRequest } from './model';

const ASSUMED_ROLE = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;
const IAM_ROLE = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;

/**
 * The caller's identity as configured in `callers`: an assumed-role session
 * `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` is the role `arn:aws:iam::ACCOUNT:role/ROLE`.
 */
export function normalizePrincipal(userArn: string): string {
  const match = ASSUMED_ROLE.exec(userArn);
  return match ? `arn:${match[1]}:iam::${match[2]}:role/${match[3]}` : userArn;
}

/**
 * A session ARN carries the role's name but not its path, so a configured `role/teams/orders` must match
 * the session of `orders`: roles compare by partition, account and name.
 */
function roleIdentity(arn: string): string | undefined {
  const match = IAM_ROLE.exec(arn);
  return match ? `${match[1]}:${match[2]}:${match[3]}` : undefined;
}

/** What one caller may ask of a provider: its own lists where the entry gives them, else the provider's. */
export interface CallerGrant {
  readonly scopes: readonly string[];
  readonly audiences: readonly string[];
  readonly defaultScopes: readonly string[];
  readonly defaultAudience?: string;
}

/** An IAM principal (a role, as its sessions are normalized to; a user; the account's root): partition, account. */
const IAM_PRINCIPAL = /^arn:(aws[a-z-]*):iam::(\d{12}):(?:role\/|user\/|root$)/;

/**
 * Whether a `"*"` entry admits `principal`: an IAM role (by its sessions), user or root of one of
 * `accounts`, each `<partition>:<account id>` (as the function names them: `accountsInPartition`) or a bare
 * account id of the `aws` partition. An account id of another partition is another account. Never a
 * `GetFederationToken` session (`sts::…:federated-user/NAME`): its name is the caller's to choose, and each
 * name would be a caller of its own, with a budget of its own.
 */
function admittedByAnyCaller(principal: string, accounts: ReadonlySet<string>): boolean {
  const match = IAM_PRINCIPAL.exec(principal);
  if (!match) return false;
  const [, partition, account] = match;
  return (
    accounts.has(`${partition}:${account}`) ||
    (partition === DEFAULT_PARTITION && account !== undefined && accounts.has(account))
  );
}

/**
 * The caller's grant on `provider`, or undefined when it is not among the provider's `callers`. A `"*"` entry
 * admits the principals of `anyCallerAccounts` alone (the stack's account, or `allowedAccounts`): the API's
 * resource policy admits every named caller of every provider, so without this a caller of another account
 * named on one provider would reach every `"*"` provider.
 */
export function callerGrant(
  provider: ProviderConfig,
  principal: string | undefined,
  anyCallerAccounts: ReadonlySet<string>,
): CallerGrant | undefined {
  if (!principal) return undefined;
  const callerRole = roleIdentity(principal);
  // `"*"` is decided by the account alone: a principal spelt `*` is no match for it.
  const matches = (allowed: string) =>
    allowed === '*'
      ? admittedByAnyCaller(principal, anyCallerAccounts)
      : allowed === principal || (callerRole !== undefined && roleIdentity(allowed) === callerRole);
  const entry = provider.callers.find((caller) =>
    matches(typeof caller === 'string' ? caller : caller.principal),
  );
  if (entry === undefined) return undefined;
  const scopes =
    typeof entry === 'string' ? provider.allowedScopes : (entry.scopes ?? provider.allowedScopes);
  const audiences =
    typeof entry === 'string' ? provider.allowedAudiences : (entry.audiences ?? provider.allowedAudiences);
  const defaultAudience =
    provider.defaultAudience !== undefined && audiences.includes(provider.defaultAudience)
      ? provider.defaultAudience
      : audiences[0];
  return {
    scopes,
    audiences,
    defaultScopes: provider.defaultScopes.filter((scope) => scopes.includes(scope)),
    ...(defaultAudience === undefined ? {} : { defaultAudience }),
  };
}

export const isCallerAllowed = (
  provider: ProviderConfig,
  principal: string | undefined,
  anyCallerAccounts: ReadonlySet<string>,
): boolean => callerGrant(provider, principal, anyCallerAccounts) !== undefined;

/** Refuses a scope or audience outside what this caller may ask for, before anything goes upstream. */
export function resolveSelectors(
  provider: ProviderConfig,
  grant: CallerGrant,
  request: VendRequest,
): ResolvedSelectors {
  const scopes = request.scopes ?? [...grant.defaultScopes].sort();
  // Where the provider has an allow-list, something from it is always sent: a request with no scope would
  // let the provider grant its own default, which may be more than this caller may ask for.
  const scopesBounded = grant.scopes.length > 0 || provider.allowedScopes.length > 0;
  if (request.scopes === undefined && scopes.length === 0 && scopesBounded) {
    throw new VendError(
      'access_denied',
      `Name a scope: the default scopes of provider "${provider.id}" are not among this caller's.`,
    );
  }
  const refused = scopes.filter((scope) => !grant.scopes.includes(scope));
  if (refused.length > 0) {
    throw new VendError(
      'access_denied',
      `Scope(s) not allowed to this caller for provider "${provider.id}": ${refused.join(' ')}.`,
    );
  }
  const audience = request.audience ?? grant.defaultAudience;
  if (request.audience !== undefined && !grant.audiences.includes(request.audience)) {
    throw new VendError(
      'access_denied',
      `Audience not allowed to this caller for provider "${provider.id}".`,
    );
  }
  if (audience === undefined && (grant.audiences.length > 0 || provider.allowedAudiences.length > 0)) {
    throw new VendError(
      'access_denied',
      `Name an audience: provider "${provider.id}" has no default audience for this caller.`,
    );
  }
  return audience === undefined ? { scopes } : { scopes, audience };
}
