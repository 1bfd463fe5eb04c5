import assert from 'node:assert/strict';
import { MemoryTokenStore } from '../../lambda/cache/memory-token-store';
import { clockOf } from '../../lambda/clock';

const token = (name: string, expiresAt = 2_000_000_000) => ({ accessToken: name, issuedAt: 0, expiresAt });

describe('Class: MemoryTokenStore', () => {
  it('drops the least recently used entry past its bound', async () => {
    const store = new MemoryTokenStore({ maxEntries: 2 });
    await store.put('a', token('A'));
    await store.put('b', token('B'));
    await store.get('a');
    await store.put('c', token('C'));
    assert.equal(store.size, 2);
    assert.equal((await store.get('a'))?.accessToken, 'A');
    assert.equal(await store.get('b'), undefined);
  });

  it('forgets an entry after its maximum age, so evictions elsewhere are seen', async () => {
    let nowMs = 1_000_000;
    const store = new MemoryTokenStore({ maxAgeSeconds: 60, clock: clockOf(() => nowMs) });
    await store.put('a', token('A'));
    nowMs += 59_000;
    assert.ok(await store.get('a'));
    nowMs += 1_000;
    assert.equal(await store.get('a'), undefined);
  });

  it('never returns an expired token', async () => {
    const store = new MemoryTokenStore({ clock: clockOf(() => 5_000_000) });
    await store.put('a', token('A', 4_999));
    assert.equal(await store.get('a'), undefined);
  });
});
