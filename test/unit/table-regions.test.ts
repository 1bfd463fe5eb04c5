import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseTableRegions, RegionOwnedKeys } from '../../lambda/contracts/region-owned-items';
import { ConfigurationError } from '../../lambda/errors';

describe('TVM_REGIONS', () => {
  it('is one region when unset: the partition key is the name alone, as before regions', () => {
    assert.equal(parseTableRegions(undefined, 'eu-north-1'), undefined);
    assert.equal(parseTableRegions('  ', 'eu-north-1'), undefined);
    const keys = new RegionOwnedKeys(undefined);
    assert.equal(keys.own('budget#x#1'), 'budget#x#1');
    assert.deepEqual(keys.peers('budget#x#1'), []);
  });

  it('names the own region in the key written and the others in the keys read', () => {
    const regions = parseTableRegions('eu-north-1, eu-west-1', 'eu-west-1');
    assert.deepEqual(regions, { own: 'eu-west-1', peers: ['eu-north-1'] });
    const keys = new RegionOwnedKeys(regions);
    assert.equal(keys.own('k'), 'eu-west-1#k');
    assert.deepEqual(keys.peers('k'), [{ region: 'eu-north-1', partitionKey: 'eu-north-1#k' }]);
  });

  it.each([
    ['eu-north-1,eu-west-1', 'us-east-1', /AWS_REGION \("us-east-1"\) is not one of TVM_REGIONS/],
    ['eu-north-1,eu-west-1', undefined, /AWS_REGION \(unset\)/],
    ['eu-north-1', 'eu-north-1', /names one region/],
    ['eu-north-1,eu-north-1', 'eu-north-1', /names a region twice/],
    ['eu-north-1,EU#west', 'eu-north-1', /not a region name/],
  ])('refuses %j in %s at cold start', (setting, own, message) => {
    assert.throws(
      () => parseTableRegions(setting, own),
      (error: unknown) => {
        assert.ok(error instanceof ConfigurationError);
        assert.match(error.message, message);
        return true;
      },
    );
  });

  it('either parses to regions holding the own one, or refuses with a ConfigurationError', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 60 }),
        fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
        (setting, own) => {
          try {
            const regions = parseTableRegions(setting, own);
            if (regions === undefined) return setting.trim() === '';
            return regions.own === own && !regions.peers.includes(own) && regions.peers.length >= 1;
          } catch (error) {
            return error instanceof ConfigurationError;
          }
        },
      ),
    );
  });
});
