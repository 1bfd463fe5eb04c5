import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const manifest = (name: string) =>
  JSON.parse(readFileSync(join(ROOT, 'packages', name, 'package.json'), 'utf8')) as {
    version: string;
    bin: Record<string, string>;
  };

/**
 * `npx --no tvm …` in a clone after `npm ci` runs this repository's CLI, never a registry package of that
 * name: npm links a workspace's bins at install, before `prepare` builds dist/, so each bin is a committed
 * file (which loads dist/ when run), never a built one.
 */
describe('The workspace bins of a clone', () => {
  const BINS = [
    { pkg: 'client', bin: 'tvm' },
    { pkg: 'construct', bin: 'tvm-admin' },
  ] as const;

  it('are committed files, so that npm links them before anything is built', () => {
    const tracked = execFileSync('git', ['ls-files', 'packages'], { cwd: ROOT, encoding: 'utf8' }).split(
      '\n',
    );
    for (const { pkg, bin } of BINS) {
      const target = manifest(pkg).bin[bin];
      assert.ok(target && !target.startsWith('dist'), `${pkg}'s ${bin} is not a built file`);
      assert.ok(tracked.includes(`packages/${pkg}/${target}`), `packages/${pkg}/${target} is committed`);
      assert.equal(
        realpathSync(join(ROOT, 'node_modules', '.bin', bin)),
        join(ROOT, 'packages', pkg, target),
        `node_modules/.bin/${bin} is the workspace's`,
      );
    }
  });

  it('run through npx --no: tvm answers with its version, tvm-admin with its usage', async () => {
    // npm_config_offline: even a mistaken lookup could not reach a registry.
    const env = { ...process.env, npm_config_offline: 'true' };
    const tvm = await run('npx', ['--no', '--', 'tvm', '--version'], { cwd: ROOT, env });
    assert.equal(tvm.stdout.trim(), manifest('client').version);
    const admin = await run('npx', ['--no', '--', 'tvm-admin', '--help'], { cwd: ROOT, env });
    assert.match(admin.stdout, /^Usage: tvm-admin secret check/);
  });

  it('say in one line what to do when the package is not built', async () => {
    for (const { pkg, bin } of BINS) {
      const copy = mkdtempSync(join(tmpdir(), 'tvm-unbuilt-'));
      mkdirSync(join(copy, 'bin'));
      const target = manifest(pkg).bin[bin] ?? '';
      copyFileSync(join(ROOT, 'packages', pkg, target), join(copy, target));
      const failure = await run(process.execPath, [join(copy, target)]).then(
        () => assert.fail('an unbuilt bin must fail'),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(failure.code, 1);
      assert.match(
        failure.stderr,
        new RegExp(`^${bin}: .*dist/${bin}\\.cjs is missing: run \`npm run build\``),
      );
      assert.equal(failure.stderr.trimEnd().split('\n').length, 1);
    }
  });
});
