import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { build, stop } from 'esbuild';
import { FUNCTION_BUNDLE } from './function-bundle';

/**
 * `npm run build` (run by `npm install` through `prepare`): the three packages under `packages/`, each into
 * its own `dist`, with type declarations.
 * - token-vending-client: the client (CommonJS and ESM) and the `tvm` CLI; its dependencies stay external.
 * - token-vending-grant-vend: `grantVend`; aws-cdk-lib and constructs are its peers.
 * - token-vending-construct: the construct, with the function's schema (and zod) bundled in, the
 *   function itself bundled once into `dist/function` (an adopter's synth copies it, it never builds it),
 *   and the operator tool `tvm-admin` (`dist/tvm-admin.cjs`, behind the committed `bin/tvm-admin.cjs`).
 */
const root = join(__dirname, '..');
const packageDir = (name: string) => join(root, 'packages', name);

const common = {
  bundle: true,
  platform: 'node' as const,
  target: 'node20',
  format: 'cjs' as const,
  packages: 'external' as const,
  sourcemap: true,
  logLevel: 'warning' as const,
};

async function main(): Promise<void> {
  await buildClientPackage();
  await buildGrantVendPackage();
  await buildConstructPackage();
}

/** The caller's package: the client as CommonJS and ESM, the `tvm` CLI, and type declarations. */
async function buildClientPackage(): Promise<void> {
  const dir = packageDir('client');
  const out = resetDist(dir);
  const entry = join(dir, 'src', 'index.ts');
  await build({ ...common, entryPoints: [entry], outfile: join(out, 'index.cjs') });
  await build({ ...common, entryPoints: [entry], outfile: join(out, 'index.mjs'), format: 'esm' });
  await build({
    ...common,
    entryPoints: [join(dir, 'src', 'cli', 'main.ts')],
    outfile: join(out, 'tvm.cjs'),
    banner: { js: '#!/usr/bin/env node' },
  });
  declarations(dir, join(dir, 'src'), join(out, 'types'));
  // The caller contract travels with the client: its README points here.
  copyFileSync(join(root, 'docs', 'api.md'), join(out, 'API.md'));
  copyFileSync(join(root, 'docs', 'openapi.json'), join(out, 'openapi.json'));
}

/** `grantVend` for callers' CDK stacks. */
async function buildGrantVendPackage(): Promise<void> {
  const dir = packageDir('grant-vend');
  const out = resetDist(dir);
  const entry = join(dir, 'src', 'index.ts');
  await build({ ...common, entryPoints: [entry], outfile: join(out, 'index.cjs') });
  await build({ ...common, entryPoints: [entry], outfile: join(out, 'index.mjs'), format: 'esm' });
  declarations(dir, join(dir, 'src'), join(out, 'types'));
}

/**
 * The construct: CommonJS (CDK apps load it with `require`), its peers and grant-vend external, everything
 * else (the function's provider schema, zod) inside. The function beside it, as the stack ships it.
 */
async function buildConstructPackage(): Promise<void> {
  const dir = packageDir('construct');
  const out = resetDist(dir);
  await build({
    ...common,
    packages: undefined,
    external: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs', 'token-vending-grant-vend'],
    entryPoints: [join(dir, 'src', 'index.ts')],
    outfile: join(out, 'index.cjs'),
  });
  await build({
    entryPoints: [join(root, 'lambda', 'index.ts')],
    outfile: join(out, 'function', 'index.js'),
    bundle: true,
    platform: 'node',
    minify: FUNCTION_BUNDLE.minify,
    sourcemap: FUNCTION_BUNDLE.sourceMap,
    target: FUNCTION_BUNDLE.target,
    format: FUNCTION_BUNDLE.format,
    external: [...FUNCTION_BUNDLE.externalModules],
    logLevel: 'warning',
  });
  // The operator tool: the function's schema, secret checks and signers (zod, jose, oauth4webapi) inside;
  // the AWS SDK clients are the package's dependencies.
  await build({
    ...common,
    packages: undefined,
    external: ['@aws-sdk/*'],
    entryPoints: [join(dir, 'src', 'admin', 'main.ts')],
    outfile: join(out, 'tvm-admin.cjs'),
  });
  // The construct's source imports the function's schema, so tsc emits declarations from the repository's
  // root; only those the package's own entry reaches are kept.
  const types = join(out, 'types');
  declarations(dir, root, types);
  pruneDeclarations(types, join(types, 'packages', 'construct', 'src', 'index.d.ts'));
}

function resetDist(dir: string): string {
  const out = join(dir, 'dist');
  rmSync(out, { recursive: true, force: true });
  return out;
}

/** Type declarations of a package's `src` (its tsconfig.json), into `outDir`. */
function declarations(dir: string, rootDir: string, outDir: string): void {
  execFileSync(
    process.execPath,
    [
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(dir, 'tsconfig.json'),
      '--rootDir',
      rootDir,
      '--outDir',
      outDir,
    ],
    { stdio: 'inherit' },
  );
}

/** Removes every declaration file `entry` does not reach through its relative imports. */
function pruneDeclarations(typesDir: string, entry: string): void {
  const reached = new Set<string>();
  const visit = (file: string) => {
    if (reached.has(file)) return;
    reached.add(file);
    for (const match of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = resolve(dirname(file), `${match[1]}.d.ts`);
      if (existsSync(target)) visit(target);
    }
  };
  visit(entry);
  const all = execFileSync('find', [typesDir, '-name', '*.d.ts'], { encoding: 'utf8' }).trim().split('\n');
  for (const file of all) {
    if (!reached.has(file)) rmSync(file);
  }
  for (const file of reached) {
    if (relative(typesDir, file).startsWith(join('packages', 'construct'))) continue;
    throw new Error(`the construct's declarations reach ${relative(typesDir, file)}, outside its package`);
  }
  execFileSync('find', [typesDir, '-type', 'd', '-empty', '-delete']);
}

main()
  .catch((error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  })
  // esbuild keeps a service process while the API is in use; end it rather than leave it to exit.
  .finally(() => stop());
