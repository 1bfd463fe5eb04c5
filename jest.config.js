/**
 * Jest 30 with @swc/jest as the TypeScript transform. ESM-only packages (oauth4webapi, jose, oidc-provider…)
 * are transformed too, since the suite runs as CommonJS. Two projects:
 * - unit: pure logic and the vendor in-process with a fake clock; needs no Java, no network, no servers.
 * - integration: DynamoDB Local (one for the run, started in globalSetup), loopback providers, oidc-provider,
 *   real SigV4, and the CDK app.
 */
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
  testEnvironment: 'node',
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'json'],
};

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 60_000,
  maxWorkers: 2,
  coverageProvider: 'v8',
  collectCoverageFrom: ['common/**/*.ts', 'lambda/**/*.ts', 'client/**/*.ts', '!lambda/index.ts'],
  coverageReporters: ['text-summary', 'text'],
  coverageThreshold: {
    './lambda/': { branches: 90 },
    './client/': { branches: 90 },
  },
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/test/infra/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
