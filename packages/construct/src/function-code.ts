import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerImage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { ProviderConfig } from '../../../lambda/config/provider-schema';

/**
 * The function's bundle, built once with the package (`npm run build`) and shipped in its tarball:
 * `dist/function` from `dist/index.cjs` as from `src/` in this repository.
 */
export const PREBUILT_FUNCTION_DIR = join(__dirname, '..', 'dist', 'function');

/**
 * The code asset: the prebuilt bundle with the validated providers file beside it, as `providers.json`,
 * where the function reads it (configuration travels in the code, never in the environment). "Bundling" is
 * a local copy: no esbuild, no Docker and no network at the adopter's synth. The image is never pulled:
 * CDK only uses it when local bundling declines, and this one never does.
 */
export function functionCode(providers: readonly ProviderConfig[]): lambda.Code {
  if (!existsSync(join(PREBUILT_FUNCTION_DIR, 'index.js'))) {
    throw new Error(
      `the function's bundle is missing (${PREBUILT_FUNCTION_DIR}): run \`npm run build\` in the token vending repository`,
    );
  }
  const providersFile = `${JSON.stringify({ providers }, null, 2)}\n`;
  return lambda.Code.fromAsset(PREBUILT_FUNCTION_DIR, {
    bundling: {
      image: DockerImage.fromRegistry('unused'),
      local: {
        tryBundle(outputDir: string): boolean {
          for (const file of readdirSync(PREBUILT_FUNCTION_DIR)) {
            if (file !== 'providers.json')
              copyFileSync(join(PREBUILT_FUNCTION_DIR, file), join(outputDir, file));
          }
          writeFileSync(join(outputDir, 'providers.json'), providersFile);
          return true;
        },
      },
    },
  });
}
