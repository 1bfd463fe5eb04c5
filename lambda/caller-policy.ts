import type { ProviderConfig } from './config/provider-schema';
import { VendError } from './errors';
import type { VendRequest } from './vend-request';

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

export function isCallerAllowed(provider: ProviderConfig, principal: string | undefined): boolean {
  if (!principal) return false;
  if (provider.callers.includes('*')) return true;
  const callerRole = roleIdentity(principal);
  return provider.callers.some(
    (allowed) => allowed === principal || (callerRole !== undefined && roleIdentity(allowed) === callerRole),
  );
}

/** The scopes and audience a vend will ask the provider for, after defaults and the provider's allow-lists. */
export interface ResolvedSelectors {
  readonly scopes: readonly string[];
  readonly audience?: string;
}

/** Refuses a scope or audience outside the provider's lists before anything goes upstream. */
export function resolveSelectors(provider: ProviderConfig, request: VendRequest): ResolvedSelectors {
  const scopes = request.scopes ?? [...provider.defaultScopes].sort();
  const refused = scopes.filter((scope) => !provider.allowedScopes.includes(scope));
  if (refused.length > 0) {
    throw new VendError(
      'access_denied',
      `Scope(s) not allowed for provider "${provider.id}": ${refused.join(' ')}.`,
    );
  }
  const audience = request.audience ?? provider.defaultAudience;
  if (request.audience !== undefined && !provider.allowedAudiences.includes(request.audience)) {
    throw new VendError('access_denied', `Audience not allowed for provider "${provider.id}".`);
  }
  return audience === undefined ? { scopes } : { scopes, audience };
}
