/**
 * How the vend function is bundled: `npm run build` bundles the function into the construct package with these, and the benchmark and the
 * Lambda-entry test build the same bundle with esbuild directly, so what they measure is what ships.
 */
export const FUNCTION_BUNDLE = {
  minify: true,
  sourceMap: true,
  /** The function's runtime is Node.js 24. */
  target: 'node24',
  /** CommonJS: the providers file is found beside the bundle through `__dirname`. */
  format: 'cjs',
  /** The Lambda runtime provides the AWS SDK v3. */
  externalModules: ['@aws-sdk/*'],
} as const;
