import assert from 'node:assert/strict';
import { join } from 'node:path';
import { adminArguments } from '../../scripts/secret';

const CONFIG = join(__dirname, '..', '..', 'config', 'providers');

describe('Function: adminArguments (npm run secret -- … as tvm-admin)', () => {
  it("gives tvm-admin this repository's providers file for --env, sandbox by default", () => {
    assert.deepEqual(adminArguments(['put', 'p', '--file', 's.json'], {}), [
      'secret',
      'put',
      'p',
      '--file',
      's.json',
      '--providers',
      join(CONFIG, 'sandbox.json'),
    ]);
    assert.deepEqual(adminArguments(['check', 'p', '--env=production', '--file', 's.json'], {}).slice(-2), [
      '--providers',
      join(CONFIG, 'production.json'),
    ]);
    assert.deepEqual(adminArguments(['public-key', 'p', '--env', 'local'], {}), [
      'public-key',
      'p',
      '--env',
      'local',
      '--providers',
      join(CONFIG, 'sandbox.json'),
    ]);
  });

  it('leaves a providers file given by --providers or TVM_PROVIDERS alone, and --help as it is', () => {
    assert.deepEqual(adminArguments(['check', 'p', '--providers', 'mine.json'], {}), [
      'secret',
      'check',
      'p',
      '--providers',
      'mine.json',
    ]);
    assert.deepEqual(adminArguments(['put', 'p'], { TVM_PROVIDERS: 'env.json' }), ['secret', 'put', 'p']);
    assert.deepEqual(adminArguments(['put', '--help'], {}), ['--help']);
  });

  it('refuses an unknown environment and a missing command', () => {
    assert.throws(
      () => adminArguments(['put', 'p', '--env', 'toString'], {}),
      /unknown environment "toString"/,
    );
    assert.throws(() => adminArguments([], {}), /put\|check\|public-key/);
  });
});
