/**
 * Jest 30 with @swc/jest as the TypeScript transform. ESM-only packages (oauth4webapi, jose, oidc-provider…)
 * are transformed too, since the suite runs as CommonJS. Three projects:
 * - unit: pure logic and the vendor in-process with a fake clock; needs no Java, no network, no servers.
 * - infra: the CDK app and the construct (synth, cdk-nag, policies, one bundle); needs no Java either, so it
 *   has no globalSetup and never starts DynamoDB Local.
 * - integration: DynamoDB Local (one for the run, started in globalSetup), loopback providers, oidc-provider,
 *   real SigV4.
 * What tests print is shown only for a failing test (test/support/jest); the coverage table is written to
 * coverage/coverage.txt, its summary printed.
 */
const { isNarrowedRun } = require('./test/support/jest/narrowed-run');
const { requireNodeMajor } = require('./test/support/jest/node-version');

// The suite runs on the function's runtime: npm scripts find the project's own Node 24 first on PATH.
requireNodeMajor(24);

const ESM_ONLY = [
  'oauth4webapi',
  'jose',
  'oidc-provider',
  'zod',
  'quick-lru',
  'nanoid',
  '@koa',
  'koa',
  'eta',
];

const shared = {
  testEnvironment: '<rootDir>/test/support/jest/quiet-environment.js',
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'json'],
};

// Coverage thresholds are a property of the whole suite: a run narrowed to a path or a project reports
// coverage but is not held to them.
const coverageThreshold = isNarrowedRun(process.argv.slice(2))
  ? undefined
  : { './lambda/': { branches: 90 }, './packages/client/src/': { branches: 90 } };

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 60_000,
  maxWorkers: 2,
  reporters: ['<rootDir>/test/support/jest/quiet-reporter.js', 'summary'],
  coverageProvider: 'v8',
  collectCoverageFrom: [
    'lambda/**/*.ts',
    'packages/client/src/**/*.ts',
    '!packages/client/src/cli/**',
    '!lambda/index.ts',
  ],
  coverageReporters: ['text-summary', ['text', { file: 'coverage.txt' }]],
  ...(coverageThreshold && { coverageThreshold }),
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...shared, displayName: 'infra', testMatch: ['<rootDir>/test/infra/**/*.test.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
