import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { ProviderEntryInput } from '../../lambda/config/provider-schema';
import {
  TokenVendingService,
  type TokenVendingServiceProps,
} from '../../packages/construct/src/token-vending-service';

export const ACCOUNT = '111122223333';

export const PROVIDERS: ProviderEntryInput[] = [
  {
    id: 'alpha',
    tokenEndpoint: 'https://idp.alpha.example/oauth/token',
    clientAuth: 'client_secret_post',
    secretId: 'token-vending/alpha',
    callers: [`arn:aws:iam::${ACCOUNT}:role/orders-service`],
  },
  {
    id: 'beta',
    tokenEndpoint: 'https://idp.beta.example/token',
    clientAuth: 'private_key_jwt',
    secretId: 'token-vending/beta',
  },
];

/** A stack holding only the service, synthesized without bundling (one test bundles for real). */
export function synthService(
  props: Partial<TokenVendingServiceProps> | ((stack: Stack) => Partial<TokenVendingServiceProps>) = {},
  options: {
    bundle?: boolean;
    nag?: boolean;
    extend?: (stack: Stack, service: TokenVendingService) => void;
  } = {},
): { app: App; stack: Stack; service: TokenVendingService; template: Template } {
  const app = new App(options.bundle ? {} : { context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { account: ACCOUNT, region: 'eu-north-1' } });
  const resolved = typeof props === 'function' ? props(stack) : props;
  const service = new TokenVendingService(stack, 'TokenVending', {
    environment: 'test',
    providers: PROVIDERS,
    ...resolved,
  });
  options.extend?.(stack, service);
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, service, template: Template.fromStack(stack) };
}

/** Every IAM policy statement in the template, with `Action` and `Resource` as arrays. */
export function policyStatements(
  template: Template,
): Array<{ Action: string[]; Resource: unknown[]; Effect: string }> {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
    (policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>).map((statement) => ({
      Effect: String(statement.Effect),
      Action: ([] as string[]).concat(statement.Action as string | string[]),
      Resource: ([] as unknown[]).concat(statement.Resource),
    })),
  );
}
