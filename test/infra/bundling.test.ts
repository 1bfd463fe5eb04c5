import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { synthService } from './support';

describe('Lambda bundling (esbuild, no Docker)', () => {
  it('bundles the handler with a source map and the validated providers file beside it', () => {
    const { app } = synthService({}, { bundle: true });
    const assembly = app.synth();
    const assets = readdirSync(assembly.directory).filter((entry) => entry.startsWith('asset.'));
    const bundled = assets.filter((entry) => existsSync(join(assembly.directory, entry, 'index.js')));
    assert.equal(bundled.length, 1);
    const dir = join(assembly.directory, bundled[0] ?? '');
    assert.ok(existsSync(join(dir, 'index.js.map')));
    const providers = parseProviderConfig(JSON.parse(readFileSync(join(dir, 'providers.json'), 'utf8')));
    assert.deepEqual(
      providers.map((provider) => provider.id),
      ['alpha', 'beta'],
    );
    const bundle = readFileSync(join(dir, 'index.js'), 'utf8');
    assert.ok(!bundle.includes('@aws-sdk/client-dynamodb/dist-cjs'), 'the runtime provides the AWS SDK');
    assert.ok(statSync(join(dir, 'index.js')).size < 2_000_000);
  });
});
