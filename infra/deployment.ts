import type { Construct } from 'constructs';
import type { TokenVendingServiceProps } from 'token-vending-construct';
import { deploymentRegions, type EnvironmentSettings } from './environments';
import { TokenVendingStack } from './token-vending-stack';

export interface DeploymentOptions {
  /** @default the CLI's account at deploy (CDK_DEFAULT_ACCOUNT); a token at synth without credentials */
  readonly account?: string;
  /** Where a single-Region environment without `regions` deploys. @default the CLI's region */
  readonly region?: string;
  readonly service?: Partial<Omit<TokenVendingServiceProps, 'providers' | 'environment'>>;
}

/**
 * The stacks of one environment: one, `TokenVending-<env>`, unless its settings name several regions; then
 * one whole service per region, the primary region's keeping that id (so an environment that grows a
 * second region updates its stack in place) and each other region's `TokenVending-<env>-<region>`,
 * deployed after the primary, whose sealing key ARN it takes through CDK's cross-region references.
 */
export function createDeployment(
  scope: Construct,
  settings: EnvironmentSettings,
  options: DeploymentOptions = {},
): TokenVendingStack[] {
  const regions = deploymentRegions(settings);
  const id = `TokenVending-${settings.name}`;
  const common = { settings, ...(options.service ? { service: options.service } : {}) };
  if (!regions || regions.length === 1) {
    return [
      new TokenVendingStack(scope, id, {
        ...common,
        description: `OAuth2 token vending service (${settings.name})`,
        env: { account: options.account, region: regions?.[0] ?? options.region },
      }),
    ];
  }
  const [primaryRegion, ...others] = regions;
  const primary = new TokenVendingStack(scope, id, {
    ...common,
    description: `OAuth2 token vending service (${settings.name})`,
    env: { account: options.account, region: primaryRegion },
    crossRegionReferences: true,
  });
  const secondaries = others.map((region) => {
    const stack = new TokenVendingStack(scope, `${id}-${region}`, {
      ...common,
      description: `OAuth2 token vending service (${settings.name}, ${region})`,
      env: { account: options.account, region },
      crossRegionReferences: true,
      primary,
    });
    stack.addStackDependency(primary, 'replicates its global table, sealing key and secrets');
    return stack;
  });
  return [primary, ...secondaries];
}
