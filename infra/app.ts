import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { environmentNamed } from './environments';
import { TokenVendingStack } from './token-vending-stack';

/**
 * `npx cdk deploy -c env=sandbox|production [-c allowedAccounts=111122223333,444455556666]`.
 * Account and region come from the CLI's credentials (CDK_DEFAULT_*); synth needs neither.
 */
const app = new App();
const settings = environmentNamed(app.node.tryGetContext('env') ?? 'sandbox');
const allowedAccounts = String(app.node.tryGetContext('allowedAccounts') ?? '')
  .split(',')
  .map((account) => account.trim())
  .filter(Boolean);

new TokenVendingStack(app, `TokenVending-${settings.name}`, {
  settings,
  description: `OAuth2 token vending service (${settings.name})`,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  ...(allowedAccounts.length > 0 ? { service: { allowedAccounts } } : {}),
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
