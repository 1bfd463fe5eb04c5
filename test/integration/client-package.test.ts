import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { DEMO_CALLER } from '../../local/local-config';
import { type LocalService, startLocalService } from '../../local/local-service';
import { createTestTable, type TestTable } from '../support/dynamodb';
import { packAndInstall } from '../support/pack-and-install';
import { RecordingLog } from '../support/recording-log';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

/**
 * The Nodes a calling service may run the client on, besides the suite's own (the function's runtime, 24):
 * every other `node` on PATH, outside this repository (the machine's own, here 20). Callers' services are not
 * the function; the client supports what its `engines` says.
 */
function callerNodes(): Array<{ version: string; path: string }> {
  const found = new Map<string, string>([[process.version, process.execPath]]);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'node');
    if (!dir || dir.startsWith(ROOT) || !existsSync(candidate)) continue;
    const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
    if (!found.has(version)) found.set(version, realpathSync(candidate));
  }
  return [...found].map(([version, path]) => ({ version, path }));
}

/**
 * The caller's package as another repository gets it: `npm pack` of packages/client, installed alone in a
 * scratch project, then used from CommonJS and from ESM (with top-level await) against the local run.
 */
describe('Package: token-vending-client', () => {
  let table: TestTable;
  let local: LocalService;
  const scratch = mkdtempSync(join(tmpdir(), 'tvm-caller-'));

  beforeAll(async () => {
    table = await createTestTable();
    local = await startLocalService(
      { port: 0, dynamoDbEndpoint: table.endpoint, tableName: table.tableName },
      new RecordingLog(),
    );
    await packAndInstall(['client'], scratch, 'a-calling-service');
  }, 180_000);

  afterAll(async () => {
    await local.stop();
    await table.dispose();
  });

  it('installs without the service: no DynamoDB, Secrets Manager, KMS, Powertools, CDK or OAuth libraries', () => {
    const modules = join(scratch, 'node_modules');
    assert.ok(existsSync(join(modules, 'token-vending-client', 'dist', 'index.cjs')));
    for (const server of [
      '@aws-sdk/client-dynamodb',
      '@aws-sdk/client-secrets-manager',
      '@aws-sdk/client-kms',
      '@aws-lambda-powertools/logger',
      'aws-cdk-lib',
      'oauth4webapi',
      'jose',
      'zod',
    ]) {
      assert.ok(!existsSync(join(modules, server)), `${server} is not installed`);
    }
  });

  it('carries the caller contract its README points at, and declarations that import only its dependencies', () => {
    const installed = join(scratch, 'node_modules', 'token-vending-client');
    assert.match(readFileSync(join(installed, 'README.md'), 'utf8'), /dist\/API\.md/);
    assert.equal(
      readFileSync(join(installed, 'dist', 'API.md'), 'utf8'),
      readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8'),
    );
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    const declared = Object.keys(manifest.dependencies);
    const types = join(installed, 'dist', 'types');
    const files = readdirSync(types, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.d.ts'),
    );
    assert.ok(files.length > 0);
    for (const file of files) {
      for (const match of readFileSync(join(types, file), 'utf8').matchAll(/from '([^.'][^']*)'/g)) {
        const name = (match[1] ?? '').split('/').slice(0, 2).join('/');
        assert.ok(declared.includes(name), `${file} imports ${name}, which the package does not declare`);
      }
    }
  });

  const env = () => ({
    PATH: process.env.PATH ?? '',
    AWS_ACCESS_KEY_ID: DEMO_CALLER.accessKeyId,
    AWS_SECRET_ACCESS_KEY: DEMO_CALLER.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    TVM_ENDPOINT: local.gateway.url,
  });

  it('vends from CommonJS', async () => {
    writeFileSync(
      join(scratch, 'vend.cjs'),
      `const { TvmClient } = require('token-vending-client');
       new TvmClient({ endpoint: process.env.TVM_ENDPOINT }).getToken('demo')
         .then((token) => console.log(token.tokenType, token.expiresIn > 0));`,
    );
    const { stdout } = await run(process.execPath, ['vend.cjs'], { cwd: scratch, env: env() });
    assert.equal(stdout.trim(), 'Bearer true');
  });

  const nodes = callerNodes();
  it('is tried on a Node older than the function’s where the machine has one (in CI it must)', () => {
    const majors = nodes.map(({ version }) => Number(version.slice(1).split('.')[0]));
    if (process.env.CI) assert.ok(Math.min(...majors) <= 20, `only ${nodes.map((n) => n.version)} found`);
    assert.ok(majors.includes(24));
  });

  it.each(nodes)('vends from CommonJS, ESM and the CLI on Node $version', async ({ path }) => {
    writeFileSync(
      join(scratch, 'vend-any.cjs'),
      `const { TvmClient } = require('token-vending-client');
       new TvmClient({ endpoint: process.env.TVM_ENDPOINT }).getToken('demo')
         .then((token) => console.log(process.version, token.tokenType));`,
    );
    writeFileSync(
      join(scratch, 'vend-any.mjs'),
      `import { TvmClient } from 'token-vending-client';
       const token = await new TvmClient({ endpoint: process.env.TVM_ENDPOINT }).getToken('demo');
       console.log(process.version, token.tokenType);`,
    );
    const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
    for (const script of ['vend-any.cjs', 'vend-any.mjs']) {
      const { stdout, stderr } = await run(path, [script], { cwd: scratch, env: env() });
      assert.equal(stdout.trim(), `${version} Bearer`);
      assert.equal(stderr, '', 'no deprecation or engine warning');
    }
    const cli = join(scratch, 'node_modules', 'token-vending-client', 'dist', 'tvm.cjs');
    const vended = await run(path, [cli, 'vend', 'demo', '--raw'], { cwd: scratch, env: env() });
    assert.ok(vended.stdout.trim().length > 20);
  });

  it('vends from ESM with top-level await, and the CLI runs from the package', async () => {
    writeFileSync(
      join(scratch, 'vend.mjs'),
      `import { TvmClient, TvmError } from 'token-vending-client';
       const token = await new TvmClient({ endpoint: process.env.TVM_ENDPOINT }).getToken('demo');
       console.log(token.tokenType, typeof TvmError);`,
    );
    const { stdout } = await run(process.execPath, ['vend.mjs'], { cwd: scratch, env: env() });
    assert.equal(stdout.trim(), 'Bearer function');
    const cli = await run(join(scratch, 'node_modules', '.bin', 'tvm'), ['vend', 'demo', '--raw'], {
      cwd: scratch,
      env: env(),
    });
    assert.ok(cli.stdout.trim().length > 20);
  });
});

/**
 * `grantVend` for callers' CDK stacks as its own package: packed, installed without its peers (a calling
 * stack brings aws-cdk-lib and constructs), then used by a stack synthesized with the repository's CDK.
 */
describe('Package: token-vending-grant-vend', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'tvm-caller-stack-'));

  beforeAll(async () => {
    // Without its peers: a calling stack brings its own aws-cdk-lib and constructs.
    await packAndInstall(['grant-vend'], scratch, 'a-calling-stack', ['--legacy-peer-deps']);
  }, 120_000);

  it("grants a caller's role the vend routes of one provider", async () => {
    writeFileSync(
      join(scratch, 'stack.cjs'),
      `const { App, Stack } = require('aws-cdk-lib');
       const iam = require('aws-cdk-lib/aws-iam');
       const { grantVend } = require('token-vending-grant-vend');
       const app = new App();
       const stack = new Stack(app, 'Orders', { env: { account: '444455556666', region: 'eu-north-1' } });
       const role = new iam.Role(stack, 'OrdersRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
       grantVend(role, { restApiId: 'a1b2c3d4e5', stageName: 'live', account: '111122223333', region: 'eu-north-1' }, 'bcc-production');
       console.log(JSON.stringify(app.synth().getStackByName('Orders').template));`,
    );
    const { stdout } = await run(process.execPath, ['stack.cjs'], {
      cwd: scratch,
      // The calling stack's own CDK: the repository's, as a peer.
      env: { PATH: process.env.PATH ?? '', NODE_PATH: join(ROOT, 'node_modules') },
      maxBuffer: 16 * 1024 * 1024,
    });
    assert.match(
      stdout,
      /execute-api:eu-north-1:111122223333:a1b2c3d4e5\/live\/POST\/v1\/tokens\/bcc-production/,
    );
    assert.ok(
      !existsSync(join(scratch, 'node_modules', 'aws-cdk-lib')),
      'the CDK is the caller stack’s, not installed again',
    );
  });
});
