import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build, stop } from 'esbuild';

/**
 * `npm run build`: the client (`token-vending-service/client`), the CDK grant helper
 * (`token-vending-service/grant-vend`) and the `tvm` CLI as CommonJS for Node 20+, with type declarations.
 * Packages (AWS SDK, smithy, aws-cdk-lib) stay dependencies, not bundled.
 */
const root = join(__dirname, '..');
const dist = join(root, 'dist');

async function main(): Promise<void> {
  rmSync(dist, { recursive: true, force: true });
  const common = {
    bundle: true,
    platform: 'node' as const,
    target: 'node20',
    format: 'cjs' as const,
    packages: 'external' as const,
    sourcemap: true,
    logLevel: 'warning' as const,
  };
  await build({
    ...common,
    entryPoints: [join(root, 'client', 'index.ts')],
    outfile: join(dist, 'client', 'index.js'),
  });
  await build({ ...common, entryPoints: [join(root, 'cli', 'main.ts')], outfile: join(dist, 'tvm.js') });
  await build({
    ...common,
    entryPoints: [join(root, 'infra', 'grant-vend.ts')],
    outfile: join(dist, 'grant-vend', 'index.js'),
  });
  declarations('tsconfig.client.json', join(dist, 'types'));
  await buildClientPackage(common);
  await buildGrantVendPackage(common);
}

/** `grantVend` for callers' CDK stacks (`packages/grant-vend`): aws-cdk-lib and constructs are its peers. */
async function buildGrantVendPackage(common: Parameters<typeof build>[0]): Promise<void> {
  const out = join(root, 'packages', 'grant-vend', 'dist');
  rmSync(out, { recursive: true, force: true });
  const entry = join(root, 'infra', 'grant-vend.ts');
  await build({ ...common, entryPoints: [entry], outfile: join(out, 'index.cjs'), format: 'cjs' });
  await build({ ...common, entryPoints: [entry], outfile: join(out, 'index.mjs'), format: 'esm' });
  declarations('tsconfig.grant-vend-package.json', join(out, 'types'));
}

/** Type declarations of one tsconfig's files, into `outDir`. */
function declarations(tsconfig: string, outDir: string): void {
  execFileSync(
    process.execPath,
    [
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '--declaration',
      '--emitDeclarationOnly',
      '--noEmit',
      'false',
      '--rootDir',
      root,
      '--outDir',
      outDir,
      '-p',
      join(root, tsconfig),
    ],
    { stdio: 'inherit' },
  );
}

/**
 * The caller's package (`packages/client`): the client as CommonJS and ESM, the `tvm` CLI, and type
 * declarations, with only signing and the credential chain as dependencies.
 */
async function buildClientPackage(common: Parameters<typeof build>[0]): Promise<void> {
  const out = join(root, 'packages', 'client', 'dist');
  rmSync(out, { recursive: true, force: true });
  const entry = join(root, 'client', 'index.ts');
  await build({ ...common, entryPoints: [entry], outfile: join(out, 'index.cjs'), format: 'cjs' });
  await build({ ...common, entryPoints: [entry], outfile: join(out, 'index.mjs'), format: 'esm' });
  await build({
    ...common,
    entryPoints: [join(root, 'cli', 'main.ts')],
    outfile: join(out, 'tvm.cjs'),
    format: 'cjs',
    banner: { js: '#!/usr/bin/env node' },
  });
  declarations('tsconfig.client-package.json', join(out, 'types'));
}

main()
  .catch((error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  })
  // esbuild keeps a service process while the API is in use; end it rather than leave it to exit.
  .finally(() => stop());
