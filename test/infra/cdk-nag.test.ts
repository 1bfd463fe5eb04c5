import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ENVIRONMENTS } from '../../infra/environments';
import { TokenVendingStack } from '../../infra/token-vending-stack';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { synthService } from './support';

function synthWithNag(build: (app: App) => void): void {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  build(app);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
}

describe('cdk-nag AwsSolutions', () => {
  it('is active: an unacknowledged finding fails synth (control)', () => {
    assert.throws(
      () =>
        synthWithNag((app) => {
          new dynamodb.Table(new Stack(app, 'Bare'), 'Table', {
            partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
          });
        }),
      // The finding is named in the error: this is cdk-nag refusing synth, not some other failure.
      (error: unknown) => /AwsSolutions-DDB3/.test(String(error)),
    );
  });

  for (const settings of Object.values(ENVIRONMENTS)) {
    it(`reports nothing unacknowledged for the ${settings.name} stack`, () => {
      assert.doesNotThrow(() =>
        synthWithNag((app) => {
          new TokenVendingStack(app, `TokenVending-${settings.name}`, {
            settings,
            env: { account: '111122223333', region: 'eu-north-1' },
          });
        }),
      );
    });
  }

  it('reports nothing unacknowledged with tracing and reserved concurrency on', () => {
    const { app } = synthService({ tracing: true, reservedConcurrentExecutions: 5 }, { nag: true });
    assert.doesNotThrow(() => app.synth());
  });

  it("reports nothing unacknowledged with the service's own table key and a break-glass role", () => {
    const { app } = synthService(
      {
        tableEncryption: 'customer-managed',
        breakGlassRoleArn: 'arn:aws:iam::111122223333:role/break-glass',
      },
      { nag: true },
    );
    assert.doesNotThrow(() => app.synth());
  });

  it('accepts a runtime older than the newest aws-cdk-lib knows: the runtime is a prop, its L1 finding acknowledged', () => {
    // What an app installing a newer aws-cdk-lib (one with a Node.js runtime after 24) meets with the default.
    const { app, template } = synthService({ runtime: lambda.Runtime.NODEJS_22_X }, { nag: true });
    assert.doesNotThrow(() => app.synth());
    template.hasResourceProperties('AWS::Lambda::Function', { Runtime: 'nodejs22.x' });
  });

  it('refuses a runtime that is not Node.js, naming the prop', () => {
    assert.throws(
      () => synthService({ runtime: lambda.Runtime.PYTHON_3_13 }),
      (error: unknown) => /runtime: python3\.13 is not a Node\.js runtime/.test(String(error)),
    );
  });

  it('gives a reason for every acknowledgement', () => {
    const { stack } = synthService({ tracing: true });
    const acknowledgements = stack.node
      .findAll()
      .flatMap((construct) => construct.node.metadata)
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>));
    assert.ok(acknowledgements.length >= 5);
    for (const [id, reason] of acknowledgements) assert.ok(reason.length > 30, `${id} needs a real reason`);
  });
});

describe('Shipped provider entries', () => {
  it('sign in KMS in production wherever they sign (their secrets hold only client_id)', () => {
    const file = join(__dirname, '..', '..', 'config', 'providers', 'production.json');
    const providers = parseProviderConfig(JSON.parse(readFileSync(file, 'utf8')), file);
    const signing = providers.filter(
      (provider) => provider.grantType === 'jwt_bearer' || provider.clientAuth === 'private_key_jwt',
    );
    assert.ok(signing.some((provider) => provider.id === 'maskinporten'));
    for (const provider of signing) assert.equal(provider.signingKey?.kms, 'create', provider.id);
  });

  it('validate against the schema and stay closed until an operator adds callers', () => {
    const dir = join(__dirname, '..', '..', 'config', 'providers');
    for (const file of readdirSync(dir)) {
      const providers = parseProviderConfig(JSON.parse(readFileSync(join(dir, file), 'utf8')), file);
      assert.equal(providers.length, 6, file);
      for (const provider of providers) assert.deepEqual(provider.callers, [], `${provider.id} is closed`);
    }
  });
});
