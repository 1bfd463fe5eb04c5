import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { debugRequested, unexpectedFailure } from '../packages/construct/src/admin/operator-failure';
import { contextOverrides } from './context-overrides';
import { createDeployment } from './deployment';
import { environmentNamed } from './environments';

/**
 * `npx cdk deploy -c env=sandbox|production`: deploys what `infra/environments.ts` says for that environment.
 * The sandbox takes `-c alarmEmail=…`, `-c egress=fixed` and `-c allowedAccounts=…,…` for one deploy;
 * production refuses them, so two deploys without a settings change deploy the same thing.
 * Account and region come from the CLI's credentials (CDK_DEFAULT_*); synth needs neither. An environment
 * whose settings name several `regions` is one stack per region (`cdk deploy --all`), each in its region.
 * A settings problem is printed once, every problem listed, and the app exits 1; any other failure is one
 * line pointing at --debug. No stack trace unless asked: `cdk synth --debug` (CDK_DEBUG) or TVM_DEBUG=1.
 */
function main(): void {
  const app = new App();
  const settings = environmentNamed(String(app.node.tryGetContext('env') ?? 'sandbox'));
  createDeployment(app, settings, {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.CDK_DEFAULT_REGION,
    service: contextOverrides(settings, (name) => app.node.tryGetContext(name)),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
}

const EXPECTED = new Set(['SettingsError', 'TokenVendingSettingsError']);

try {
  main();
} catch (error) {
  const expected = EXPECTED.has((error as Error).name);
  process.stderr.write(`${expected ? (error as Error).message : `synth: ${unexpectedFailure(error)}`}\n`);
  if (debugRequested(process.argv.slice(2))) process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
}
