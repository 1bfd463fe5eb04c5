import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

/**
 * `npm pack` of packages of packages/, installed in a scratch project as README tells another repository to:
 * the tarballs vendored into the project (`vendor/`) and installed from there, so that its package.json
 * names them inside it; plus `extra` (more packages to install beside them, or npm flags), from the npm cache.
 */
export async function packAndInstall(
  names: readonly string[],
  scratch: string,
  project: string,
  extra: readonly string[] = [],
): Promise<void> {
  const vendor = join(scratch, 'vendor');
  mkdirSync(vendor, { recursive: true });
  const tarballs: string[] = [];
  for (const name of names) {
    const { stdout } = await run('npm', [
      'pack',
      join(ROOT, 'packages', name),
      '--pack-destination',
      vendor,
      '--silent',
    ]);
    tarballs.push(`./vendor/${stdout.trim().split('\n').pop() ?? ''}`);
  }
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: project, private: true }));
  await run(
    'npm',
    ['install', ...tarballs, ...extra, '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'],
    { cwd: scratch },
  );
}
