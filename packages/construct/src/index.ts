/**
 * `token-vending-construct`: the token vending service as one CDK construct, with the function's code
 * prebuilt inside the package.
 *
 * @example
 * new TokenVendingService(stack, 'TokenVending', {
 *   environment: 'production',
 *   providers: JSON.parse(readFileSync('providers.json', 'utf8')).providers,
 *   alarmEmail: 'ops@example.com',
 * });
 */
export type { CustomDomain, ServiceDomain } from './custom-domain';
export { type PolicyRoles, signingKeyPolicy } from './key-policies';
export { DEFAULT_DAILY_TOKENS, type ProviderEntry } from './provider-entry';
export type { AdmittedPrincipals, ApiEndpoint } from './service-api';
export { publishServiceDirectory } from './service-directory';
export { regionsProblems } from './service-regions';
export { TokenVendingSettingsError } from './settings-error';
export {
  type ApiGatewayAccountRole,
  DEFAULT_RESERVED_CONCURRENCY,
  DEFAULT_RUNTIME,
  TokenVendingService,
  type TokenVendingServiceProps,
} from './token-vending-service';
