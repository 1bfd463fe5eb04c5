import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEMO_CALLER } from '../../local/local-config';
import type { LocalService } from '../../local/local-service';
import { startTestLocalRun } from '../support/test-service';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
/** Python with botocore (Debian's python3-botocore, or pip's): the example runs where the toolchain is. */
const python = spawnSync('python3', ['-c', 'import botocore'], { stdio: 'ignore' }).status === 0;

/** The README's examples in other languages, run against the local run with real SigV4. */
describe('Calling from other languages', () => {
  let local: LocalService;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ local, stop } = await startTestLocalRun());
  });

  afterAll(() => stop());

  const env = () => ({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    AWS_ACCESS_KEY_ID: DEMO_CALLER.accessKeyId,
    AWS_SECRET_ACCESS_KEY: DEMO_CALLER.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    TVM_ENDPOINT: local.gateway.url,
  });

  (python ? it : it.skip)('vends from Python, signed by botocore', async () => {
    const { stdout } = await run('python3', [join(ROOT, 'examples', 'vend.py'), 'demo', 'demo.read'], {
      env: env(),
    });
    assert.match(stdout.trim(), /^Bearer \d+$/);
  });

  it('vends with curl --aws-sigv4', async () => {
    const { stdout } = await run(
      'curl',
      [
        '--silent',
        '--aws-sigv4',
        'aws:amz:us-east-1:execute-api',
        '--user',
        `${DEMO_CALLER.accessKeyId}:${DEMO_CALLER.secretAccessKey}`,
        '-X',
        'POST',
        `${local.gateway.url}/v1/tokens/demo`,
      ],
      { env: env() },
    );
    assert.equal(JSON.parse(stdout).token_type, 'Bearer');
  });
});
