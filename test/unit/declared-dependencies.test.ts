import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

interface Manifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (entry === 'node_modules' || entry === 'dist') return [];
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js)$/.test(entry) && !entry.endsWith('.d.ts') ? [path] : [];
  });
}

/** The packages a set of files imports (`import … from`, `import(…)`, `require(…)`), by package name. */
function importedPackages(files: readonly string[]): Set<string> {
  const found = new Set<string>();
  const builtins = new Set(builtinModules);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from\s+|import\(|require\()'([@a-z][^']*)'/g)) {
      const specifier = match[1] ?? '';
      if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
      const parts = specifier.split('/');
      const name = specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? '');
      // A types-only package is imported by the name of what it types.
      found.add(TYPES_ONLY.get(name) ?? name);
    }
  }
  return found;
}

const TYPES_ONLY = new Map([['aws-lambda', '@types/aws-lambda']]);

const manifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

describe('Every package declares exactly what it imports', () => {
  for (const name of ['client', 'grant-vend', 'construct']) {
    it(`packages/${name}: imports only its dependencies and peers, and uses every dependency`, () => {
      const dir = join(ROOT, 'packages', name);
      const { dependencies = {}, peerDependencies = {} } = manifest(dir);
      const imported = importedPackages(sourceFiles(join(dir, 'src')));
      const declared = new Set([...Object.keys(dependencies), ...Object.keys(peerDependencies)]);
      assert.deepEqual([...imported].filter((pkg) => !declared.has(pkg)).sort(), [], 'undeclared');
      assert.deepEqual(
        Object.keys(dependencies).filter((pkg) => !imported.has(pkg)),
        [],
        'declared but never imported',
      );
    });
  }

  it('the root (the service: function, local run, app, scripts, tests) imports only what it declares, and its runtime dependencies are all used', () => {
    const { dependencies = {}, devDependencies = {} } = manifest(ROOT);
    const service = ['lambda', 'local', 'infra', 'scripts'].flatMap((dir) => sourceFiles(join(ROOT, dir)));
    // test/support/jest holds jest's own plugins (environment, reporter), which load jest's packages.
    const tests = sourceFiles(join(ROOT, 'test')).filter(
      (file) => !file.includes(join('test', 'support', 'jest')),
    );
    const all = [...service, ...tests];
    const imported = importedPackages(all);
    const declared = new Set([...Object.keys(dependencies), ...Object.keys(devDependencies)]);
    assert.deepEqual([...imported].filter((pkg) => !declared.has(pkg)).sort(), [], 'undeclared');
    const used = importedPackages(service);
    assert.deepEqual(
      Object.keys(dependencies).filter((pkg) => !used.has(pkg)),
      [],
      'a runtime dependency nothing of the service imports',
    );
  });
});
