import assert from 'node:assert/strict';
import fc from 'fast-check';
import { problemPath, providerPath } from '../../lambda/config/problem-paths';

describe('Function: problemPath', () => {
  const entries = [{ id: 'bcc' }, { id: 'ngi' }, { id: 'ngi' }, null, { id: 7 }, 'text', { id: '' }];

  it('names a provider by its id, and by index where the id is missing, not a string, empty or shared', () => {
    assert.equal(
      problemPath(['providers', 0, 'callers', 1, 'scopes'], entries),
      'providers["bcc"].callers[1].scopes',
    );
    for (const index of [1, 2, 3, 4, 5, 6]) {
      assert.equal(problemPath(['providers', index, 'id'], entries), `providers[${index}].id`);
    }
    assert.equal(problemPath(['providers', 9], entries), 'providers[9]');
  });

  it('writes other paths as they are, and the root as empty', () => {
    assert.equal(problemPath(['providers'], entries), 'providers');
    assert.equal(problemPath(['settings', 'regions', 0]), 'settings.regions[0]');
    assert.equal(problemPath([]), '');
    assert.equal(problemPath(['providers', 0, 'tokenEndpoint']), 'providers[0].tokenEndpoint');
  });

  it('quotes any id so that the path reads back to it', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 6 }), (ids) => {
        const list = ids.map((id) => ({ id }));
        ids.forEach((id, index) => {
          const path = providerPath(list, index);
          if (ids.filter((other) => other === id).length === 1) {
            assert.equal(JSON.parse(path.slice('providers['.length, -1)), id);
          } else {
            assert.equal(path, `providers[${index}]`);
          }
        });
      }),
    );
  });
});
