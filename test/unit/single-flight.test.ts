import assert from 'node:assert/strict';
import { SingleFlight } from '../../lambda/single-flight';

const deferred = <T>() => {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: Error) => void = () => undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

describe('Class: SingleFlight', () => {
  it('runs the work once for concurrent callers of one key', async () => {
    const flights = new SingleFlight<number>();
    let runs = 0;
    const gate = deferred<number>();
    const calls = Array.from({ length: 5 }, () =>
      flights.run('k', () => {
        runs += 1;
        return gate.promise;
      }),
    );
    gate.resolve(42);
    assert.deepEqual(await Promise.all(calls), [42, 42, 42, 42, 42]);
    assert.equal(runs, 1);
    assert.equal(flights.size, 0);
  });

  it('never keeps a failure: the next call runs the work again', async () => {
    const flights = new SingleFlight<number>();
    await assert.rejects(
      flights.run('k', async () => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await flights.run('k', async () => 7), 7);
  });

  it('gives joiners an early answer while the first caller waits for the work', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    const first = flights.run('k', (publish) => {
      publish('current');
      return gate.promise;
    });
    const joiner = await flights.run('k', async () => 'never runs');
    assert.equal(joiner, 'current');
    gate.resolve('renewed');
    assert.equal(await first, 'renewed');
  });
});
