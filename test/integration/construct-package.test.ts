import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packAndInstall } from '../support/pack-and-install';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const ROOT_PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};

/** The example app, with cdk-nag on: what a platform team writes in its own repository. */
const APP = `
const { App, Stack, Validations } = require('aws-cdk-lib');
const { AwsSolutionsChecks } = require('cdk-nag');
const { publishServiceDirectory, TokenVendingService } = require('token-vending-construct');
const app = new App();
const stack = new Stack(app, 'Vending', { env: { account: '111122223333', region: 'eu-north-1' } });
const service = new TokenVendingService(stack, 'TokenVending', {
  environment: 'production',
  providers: JSON.parse(require('fs').readFileSync('providers.json', 'utf8')).providers,
  alarmEmail: 'ops@example.com',
});
publishServiceDirectory(stack, service);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
`;

const PROVIDERS = {
  providers: [
    {
      id: 'orders-idp',
      tokenEndpoint: 'https://idp.example.com/oauth/token',
      clientAuth: 'client_secret_post',
      secretId: 'token-vending/orders-idp',
      callers: ['arn:aws:iam::444455556666:role/orders'],
    },
  ],
};

/**
 * The construct as an adopter gets it: `npm pack` of packages/construct (and grant-vend, its dependency),
 * installed in a scratch app outside this repository with the peers from the npm cache, and the example
 * synthesized there with plain `node`: no esbuild, no Docker, no network at synth.
 */
describe('Package: token-vending-construct', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'tvm-adopter-'));
  const out = join(scratch, 'cdk.out');

  beforeAll(async () => {
    const peers = ['aws-cdk-lib', 'constructs', 'cdk-nag'].map(
      (name) => `${name}@${ROOT_PACKAGE.devDependencies[name]}`,
    );
    await packAndInstall(['grant-vend', 'construct'], scratch, 'platform-app', peers);
    writeFileSync(join(scratch, 'app.js'), APP);
    writeFileSync(join(scratch, 'providers.json'), JSON.stringify(PROVIDERS));
  }, 240_000);

  const synth = (env: Record<string, string> = {}) =>
    run(process.execPath, ['app.js'], {
      cwd: scratch,
      env: { PATH: process.env.PATH ?? '', HOME: scratch, CDK_OUTDIR: out, ...env },
    });

  it("vendored as README says: the app's package.json names the tarballs inside the app, not this clone", () => {
    const manifest = JSON.parse(readFileSync(join(scratch, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    assert.match(
      manifest.dependencies['token-vending-construct'] ?? '',
      /^file:vendor\/token-vending-construct-[\d.]+\.tgz$/,
    );
    assert.match(
      manifest.dependencies['token-vending-grant-vend'] ?? '',
      /^file:vendor\/token-vending-grant-vend-[\d.]+\.tgz$/,
    );
    assert.doesNotMatch(readFileSync(join(scratch, 'package-lock.json'), 'utf8'), new RegExp(ROOT));
  });

  it('carries the prebuilt function, the operator tool, and nothing that builds at synth', () => {
    const modules = join(scratch, 'node_modules');
    const dist = join(modules, 'token-vending-construct', 'dist');
    assert.ok(existsSync(join(dist, 'function', 'index.js')));
    assert.ok(existsSync(join(dist, 'function', 'index.js.map')));
    assert.ok(existsSync(join(dist, 'tvm-admin.cjs')));
    assert.ok(existsSync(join(modules, '.bin', 'tvm-admin')));
    for (const builder of ['esbuild', 'zod', 'typescript']) {
      assert.ok(!existsSync(join(modules, builder)), `${builder} is not installed`);
    }
  });

  it("synthesizes the example outside the repository, cdk-nag clean, the providers inside the function's code", async () => {
    await synth();
    const template = JSON.parse(readFileSync(join(out, 'Vending.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      Outputs: Record<string, unknown>;
    };
    // What the README's deploy step reads, and what grantVend({ environment }) finds in the account.
    for (const output of ['ApiUrl', 'RestApiId', 'StageName', 'TableName', 'AlarmTopicArn']) {
      assert.ok(output in template.Outputs, output);
    }
    const parameters = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::SSM::Parameter')
      .map((r) => r.Properties.Name)
      .sort();
    assert.deepEqual(parameters, [
      '/token-vending/production/api-id',
      '/token-vending/production/api-url',
      '/token-vending/production/stage',
    ]);
    const api = Object.values(template.Resources).find((r) => r.Type === 'AWS::ApiGateway::RestApi');
    assert.equal(api?.Properties.Name, 'token-vending-production');
    assert.match(JSON.stringify(api?.Properties.Policy), /444455556666:role\/orders/);
    const code = readdirSync(out)
      .filter((entry) => entry.startsWith('asset.'))
      .map((entry) => join(out, entry))
      .find((dir) => existsSync(join(dir, 'providers.json')));
    assert.ok(code, 'a code asset holds providers.json');
    assert.ok(existsSync(join(code, 'index.js')));
    const shipped = JSON.parse(readFileSync(join(code, 'providers.json'), 'utf8'));
    assert.equal(shipped.providers[0].id, 'orders-idp');
    assert.equal(shipped.providers[0].refreshMarginSeconds, 60, 'validated, defaults applied');
    const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function');
    assert.ok(!JSON.stringify(fn?.Properties.Environment).includes('orders-idp'), 'not in the environment');
  });

  it("tvm-admin from the app's node_modules checks a secret against its providers file, offline", async () => {
    const secret = join(scratch, 'orders-secret.json');
    // No AWS settings at all, and a region that would not resolve: `secret check` makes no AWS call.
    const tvmAdmin = (...args: string[]) =>
      run(join(scratch, 'node_modules', '.bin', 'tvm-admin'), args, {
        cwd: scratch,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: scratch,
          AWS_CONFIG_FILE: '/nonexistent/config',
          AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_ENDPOINT_URL: 'http://aws.nowhere.invalid',
        },
      });
    writeFileSync(secret, JSON.stringify({ client_id: 'orders', client_secret: 'hunter2-adopter' }));
    const fits = await tvmAdmin(
      'secret',
      'check',
      'orders-idp',
      '--file',
      secret,
      '--providers',
      'providers.json',
    );
    assert.equal(fits.stdout, 'tvm-admin: the secret fits provider orders-idp (client_secret_post)\n');
    writeFileSync(secret, JSON.stringify({ client_id: 'orders', password: 'hunter2-adopter' }));
    const refused = await tvmAdmin(
      'secret',
      'check',
      'orders-idp',
      '--file',
      secret,
      '--providers',
      'providers.json',
    ).then(
      () => assert.fail('a secret without client_secret must be refused'),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /^tvm-admin: .*found: client_id, password\n$/);
    assert.doesNotMatch(refused.stderr, /hunter2/);
    const help = await tvmAdmin('--help');
    assert.match(help.stdout, /^Usage: tvm-admin secret check/);
    assert.equal(help.stderr, '');
  });

  it('refuses bad entries at synth, every problem in the error message, each once', async () => {
    writeFileSync(
      join(scratch, 'providers.json'),
      JSON.stringify({
        providers: [{ ...PROVIDERS.providers[0], tokenEndpoint: 'http://idp', clientAuth: 'magic' }],
      }),
    );
    const failure = await synth().then(
      () => assert.fail('synth must fail'),
      (error: { stderr: string }) => error,
    );
    writeFileSync(join(scratch, 'providers.json'), JSON.stringify(PROVIDERS));
    assert.match(
      failure.stderr,
      /TokenVendingSettingsError: Vending\/TokenVending: 2 problems in the settings/,
    );
    assert.match(failure.stderr, /providers\["orders-idp"\]\.tokenEndpoint/);
    assert.match(failure.stderr, /providers\["orders-idp"\]\.clientAuth/);
  });
});
