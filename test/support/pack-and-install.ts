import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

/**
 * `npm pack` of packages of packages/, installed in a scratch project as another repository would install
 * them: the tarballs, plus `extra` (more packages to install beside them, or npm flags), from the npm cache.
 */
export async function packAndInstall(
  names: readonly string[],
  scratch: string,
  project: string,
  extra: readonly string[] = [],
): Promise<void> {
  const tarballs: string[] = [];
  for (const name of names) {
    const { stdout } = await run('npm', [
      'pack',
      join(ROOT, 'packages', name),
      '--pack-destination',
      scratch,
      '--silent',
    ]);
    tarballs.push(join(scratch, stdout.trim().split('\n').pop() ?? ''));
  }
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: project, private: true }));
  await run(
    'npm',
    ['install', ...tarballs, ...extra, '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts'],
    { cwd: scratch },
  );
}
