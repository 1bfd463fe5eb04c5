import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startDynamoDbLocal } from '../local/dynamodb-local';

/**
 * `npm test`: one DynamoDB Local for the whole run (each test file makes its own table in it), then Node's
 * test runner over every `*.test.ts`, each file in its own process. The JVM is stopped however the run ends.
 * Arguments narrow the run: `npm test -- test/unit`.
 */
const root = join(__dirname, '..');

function testFiles(path: string): string[] {
  if (statSync(path).isFile()) return path.endsWith('.test.ts') ? [path] : [];
  return readdirSync(path)
    .sort()
    .flatMap((entry) => testFiles(join(path, entry)));
}

async function main(): Promise<number> {
  const targets = process.argv.slice(2);
  const files = (targets.length > 0 ? targets : ['test']).flatMap((target) => testFiles(join(root, target)));
  if (files.length === 0) {
    process.stderr.write('no test files found\n');
    return 1;
  }
  const dynamoDb = await startDynamoDbLocal();
  try {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        '--test-reporter=spec',
        '--test-concurrency=2',
        ...files.map((file) => relative(root, file)),
      ],
      {
        cwd: root,
        stdio: 'inherit',
        env: { ...process.env, TVM_TEST_DYNAMODB_ENDPOINT: dynamoDb.endpoint, NODE_NO_WARNINGS: '1' },
      },
    );
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return await new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  } finally {
    await dynamoDb.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  },
);
