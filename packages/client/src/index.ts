/**
 * The token vending service's TypeScript client.
 *
 * @example
 * const tvm = new TvmClient({ endpoint: process.env.TVM_ENDPOINT! });
 * const { accessToken } = await tvm.getToken('bcc-production', { scope: 'persons.name#read' });
 */
export { TvmError, type TvmErrorCode } from './errors';
export {
  type ProviderInfo,
  type TokenResponse,
  type TokenSelectors,
  TvmClient,
  type TvmClientOptions,
  type TvmEndpoint,
  type VendedToken,
} from './tvm-client';
