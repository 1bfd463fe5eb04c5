import assert from 'node:assert/strict';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { TokenVendingService } from '../../packages/construct/src/token-vending-service';
import { apiParameterNames, grantVend } from '../../packages/grant-vend/src';
import { ACCOUNT, PROVIDERS } from './support';

const NORTH = 'eu-north-1';
const WEST = 'eu-west-1';
const METHODS = ['POST/v1/tokens/alpha', 'DELETE/v1/tokens/alpha', 'GET/v1/providers'];

/** What CDK's SSM context provider answers for a parameter in a region, as `cdk.context.json` keeps it. */
const lookupKey = (parameterName: string, region: string) =>
  `ssm:account=${ACCOUNT}:parameterName=${parameterName}:region=${region}`;

function callerStack(context: Record<string, unknown> = {}, env = { account: ACCOUNT, region: NORTH }) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new Stack(app, 'Caller', { env });
  const role = new iam.Role(stack, 'OrdersRole', {
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
  });
  return { app, stack, role };
}

/** The Invoke statements of the stack's IAM policies, resources rendered as text. */
function invokeStatements(stack: Stack): Array<{ resources: string[] }> {
  return Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).flatMap((policy) =>
    (policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>)
      .filter((statement) => ([] as unknown[]).concat(statement.Action).includes('execute-api:Invoke'))
      .map((statement) => ({
        resources: ([] as unknown[]).concat(statement.Resource).map((resource) => JSON.stringify(resource)),
      })),
  );
}

describe('Function: grantVend over several regions', () => {
  it("grants every region's three methods in one statement, from a list of references", () => {
    const { stack, role } = callerStack();
    grantVend(
      role,
      [
        { restApiId: 'north12345', stageName: 'live', account: ACCOUNT, region: NORTH },
        { restApiId: 'west567890', stageName: 'live', account: ACCOUNT, region: WEST },
      ],
      'alpha',
    );
    const statements = invokeStatements(stack);
    assert.equal(statements.length, 1);
    const resources = statements[0]?.resources ?? [];
    assert.equal(resources.length, 6);
    for (const method of METHODS) {
      assert.ok(
        resources.some((arn) => arn.includes(`${NORTH}:${ACCOUNT}:north12345/live/${method}`)),
        method,
      );
      assert.ok(
        resources.some((arn) => arn.includes(`${WEST}:${ACCOUNT}:west567890/live/${method}`)),
        method,
      );
    }
    assert.ok(!resources.some((arn) => arn.includes('*')), 'no wildcard API id');
  });

  it('refuses a list whose references do not all name their region', () => {
    const { role } = callerStack();
    assert.throws(
      () =>
        grantVend(
          role,
          [
            { restApiId: 'north12345', stageName: 'live' },
            { restApiId: 'west567890', stageName: 'live', region: WEST },
          ],
          'alpha',
        ),
      /each reference names its region/,
    );
    assert.throws(() => grantVend(role, [], 'alpha'), /no API to grant on/);
  });

  it("finds an environment's APIs in every region: its own at deploy time, the other's by a lookup in that region", () => {
    const names = apiParameterNames('production');
    const { app, stack, role } = callerStack({
      [lookupKey(names.restApiId, WEST)]: 'west567890',
      [lookupKey(names.stageName, WEST)]: 'live',
    });
    grantVend(role, { environment: 'production', regions: [NORTH, WEST] }, 'alpha');
    const template = Template.fromStack(stack).toJSON();
    // The own region's id is an SSM-typed CloudFormation parameter, read when the stack deploys.
    assert.match(JSON.stringify(template.Parameters), /\/token-vending\/production\/api-id/);
    const resources = invokeStatements(stack)[0]?.resources ?? [];
    assert.equal(resources.length, 6);
    for (const method of METHODS) {
      assert.ok(
        resources.some((arn) => arn.includes(`:execute-api:${WEST}:${ACCOUNT}:west567890/live/${method}`)),
      );
      assert.ok(resources.some((arn) => arn.includes(`:execute-api:${NORTH}:`) && arn.includes(method)));
    }
    assert.equal(app.synth().manifest.missing, undefined, 'nothing left to look up');
  });

  it('asks the CLI for the other region when its parameters are not in the context yet, and fails if they do not exist', () => {
    const { app, role } = callerStack();
    grantVend(role, { environment: 'production', regions: [NORTH, WEST] }, 'alpha');
    const missing = app.synth().manifest.missing ?? [];
    const asked = missing.map((entry) => entry.props as unknown as Record<string, unknown>);
    assert.deepEqual(asked.map((props) => [props.parameterName, props.region, props.account]).sort(), [
      [apiParameterNames('production').restApiId, WEST, ACCOUNT],
      [apiParameterNames('production').stageName, WEST, ACCOUNT],
    ]);
    assert.ok(asked.every((props) => props.ignoreErrorOnMissingContext === false));
  });

  it('names the cdk.json context to set when the CLI could not look a parameter up (no credentials)', () => {
    // What the CLI puts in the context when a lookup fails (here: no AWS credentials), then synthesizes again.
    const failed = {
      $providerError: `Need to perform AWS calls for account ${ACCOUNT}, but no credentials have been configured`,
      $dontSaveContext: true,
    };
    const names = apiParameterNames('production');
    const { role } = callerStack({
      [lookupKey(names.restApiId, WEST)]: failed,
      [lookupKey(names.stageName, WEST)]: 'live',
    });
    assert.throws(
      () => grantVend(role, { environment: 'production', regions: [NORTH, WEST] }, 'alpha'),
      (error: unknown) => {
        const message = (error as Error).message;
        assert.ok(message.includes(`"${lookupKey(names.restApiId, WEST)}"`), message);
        assert.match(message, /no credentials have been configured/);
        assert.match(message, /cdk\.json/);
        assert.equal(message.split('\n').length, 1, 'one line');
        return true;
      },
    );
  });

  it('refuses an environment in other regions from a stack without a concrete account and region', () => {
    const app = new App();
    const stack = new Stack(app, 'Agnostic');
    const role = new iam.Role(stack, 'OrdersRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    });
    assert.throws(
      () => grantVend(role, { environment: 'production', regions: [NORTH, WEST] }, 'alpha'),
      /concrete account and region/,
    );
  });

  it("TokenVendingService.grantVend grants on every region's API given the other regions' services", () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const service = (region: string) =>
      new TokenVendingService(
        new Stack(app, `Service-${region}`, { env: { account: ACCOUNT, region } }),
        'TokenVending',
        {
          environment: 'test',
          providers: PROVIDERS,
        },
      );
    const north = service(NORTH);
    const west = service(WEST);
    const caller = new Stack(app, 'Caller', {
      env: { account: ACCOUNT, region: NORTH },
      crossRegionReferences: true,
    });
    const role = new iam.Role(caller, 'OrdersRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    });
    north.grantVend(role, 'alpha', [west]);
    const statements = invokeStatements(caller);
    assert.equal(statements.length, 1);
    const resources = statements[0]?.resources ?? [];
    assert.equal(resources.length, 6);
    assert.equal(resources.filter((arn) => arn.includes(`:execute-api:${WEST}:`)).length, 3);
    assert.equal(resources.filter((arn) => arn.includes(`:execute-api:${NORTH}:`)).length, 3);
    assert.throws(() => north.grantVend(role, 'gamma', [west]), /no provider "gamma"/);
  });
});
