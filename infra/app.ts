import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { environmentNamed } from './environments';
import { TokenVendingStack } from './token-vending-stack';

/**
 * `npx cdk deploy -c env=sandbox|production`: deploys what `infra/environments.ts` says for that environment.
 * `-c allowedAccounts=…,…`, `-c allowedPrincipals=arn:…,…`, `-c alarmEmail=…` and `-c egress=fixed` override
 * it for one deploy.
 * Account and region come from the CLI's credentials (CDK_DEFAULT_*); synth needs neither.
 */
const app = new App();
const settings = environmentNamed(app.node.tryGetContext('env') ?? 'sandbox');
const listFromContext = (name: string): string[] =>
  String(app.node.tryGetContext(name) ?? '')
    .split(',')
    .map((value) => value.trim())
    .filter(Boolean);
const allowedAccounts = listFromContext('allowedAccounts');
const allowedPrincipalArns = listFromContext('allowedPrincipals');
const alarmEmail = String(app.node.tryGetContext('alarmEmail') ?? '');
const egress = String(app.node.tryGetContext('egress') ?? '');

new TokenVendingStack(app, `TokenVending-${settings.name}`, {
  settings,
  description: `OAuth2 token vending service (${settings.name})`,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  service: {
    ...(allowedAccounts.length > 0 ? { allowedAccounts } : {}),
    ...(allowedPrincipalArns.length > 0 ? { allowedPrincipalArns } : {}),
    ...(alarmEmail ? { alarmEmail } : {}),
    ...(egress === 'fixed' ? { egress: { type: 'fixed' as const, zones: settings.egressZones ?? 2 } } : {}),
  },
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
