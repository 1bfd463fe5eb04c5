import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, stop } from 'esbuild';
import { FUNCTION_BUNDLE } from './function-bundle';

/**
 * Builds the vend function as the stack ships it, outside CDK: `index.js` in `outdir` with the given
 * providers file beside it. Ends esbuild's service process afterwards.
 */
export async function bundleFunction(outdir: string, providers: unknown): Promise<string> {
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, 'index.js');
  await build({
    entryPoints: [join(__dirname, '..', 'lambda', 'index.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    minify: FUNCTION_BUNDLE.minify,
    target: FUNCTION_BUNDLE.target,
    format: FUNCTION_BUNDLE.format,
    external: [...FUNCTION_BUNDLE.externalModules],
    logLevel: 'silent',
  });
  await stop();
  writeFileSync(join(outdir, 'providers.json'), JSON.stringify(providers));
  return outfile;
}
