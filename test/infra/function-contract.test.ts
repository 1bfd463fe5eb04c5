import assert from 'node:assert/strict';
import type { ProviderEntryInput } from '../../lambda/config/provider-schema';
import { TOKEN_TABLE } from '../../lambda/contracts/token-table';
import { REFRESH_PERIOD_SECONDS, REFRESH_RUN_BUDGET_MS } from '../../lambda/refresher';
import { METRICS_NAMESPACE, METRICS_SERVICE } from '../../lambda/service-metrics';
import * as contract from '../../packages/construct/src/function-contract';
import type { ProviderEntry } from '../../packages/construct/src/provider-entry';

// Compile-time: whatever the function's schema accepts, the construct's documented entry type accepts too
// (typecheck fails here when the schema gains a field the interface lacks).
const fromSchema = (entry: ProviderEntryInput): ProviderEntry => entry;

describe('What the construct and the function it ships agree on', () => {
  it('names the table attributes and the metrics as the function does', () => {
    assert.deepEqual(contract.TOKEN_TABLE, TOKEN_TABLE);
    assert.equal(contract.METRICS_NAMESPACE, METRICS_NAMESPACE);
    assert.equal(contract.METRICS_SERVICE, METRICS_SERVICE);
    assert.equal(typeof fromSchema, 'function');
    assert.equal(contract.REFRESH_PERIOD_SECONDS, REFRESH_PERIOD_SECONDS);
    assert.equal(contract.REFRESH_RUN_BUDGET_MS, REFRESH_RUN_BUDGET_MS);
  });
});
