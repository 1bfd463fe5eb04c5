import assert from 'node:assert/strict';
import { startTestService, type TestService, type TestServiceOptions } from './test-service';

/**
 * Several service instances (containers) on one table, each with its own memory, sealer and data-key cache,
 * closed together: the one multi-instance fixture of the suite.
 */
export interface InstanceGroup {
  readonly instances: readonly TestService[];
  /** `count` vends at once, spread round-robin over the instances. */
  burst(providerId: string, count: number, body?: unknown): ReturnType<TestService['vend']>[];
  close(): Promise<void>;
}

export async function startInstances(
  count: number,
  options: TestServiceOptions | ((index: number) => TestServiceOptions),
): Promise<InstanceGroup> {
  const instances = await Promise.all(
    Array.from({ length: count }, (_, index) =>
      startTestService(typeof options === 'function' ? options(index) : options),
    ),
  );
  return {
    instances,
    burst: (providerId, total, body) =>
      Array.from({ length: total }, (_, index) => {
        const instance = instances[index % instances.length];
        assert.ok(instance);
        return instance.vend(providerId, body);
      }),
    close: async () => {
      await Promise.all(instances.map((instance) => instance.close()));
    },
  };
}
