import fc from 'fast-check';
import {
  Advance,
  COMMANDS,
  type Command,
  Evict,
  Fault,
  Kill,
  type ModelState,
  Refresh,
  Vend,
} from '../support/model/commands';
import { ModelWorld } from '../support/model/real-system';
import { KNOWN_DEFECTS, ReferenceModel, type Violation } from '../support/model/reference-model';

/**
 * One model of a key's life, checked against the real parts (issue 28): random sequences of vends, bursts,
 * evicts, refresher runs, instance kills, faults, clock moves and replications, run against three
 * instances in two regions (DynamoDB Local, the loopback KMS, a scripted provider) and a reference model,
 * with the invariants checked after every command. `npm test` runs it with a fixed seed and a bounded
 * number of runs; `npm run model` runs it longer with a random seed (TVM_MODEL_SEED, TVM_MODEL_RUNS,
 * TVM_MODEL_COMMANDS; TVM_MODEL_STRICT=1 also fails on the known defects; TVM_MODEL_PATH and
 * TVM_MODEL_REPLAY replay a counterexample; TVM_MODEL_DEBUG=1 prints the service's log of a failing run).
 */
const SEED = Number(process.env.TVM_MODEL_SEED ?? 28);
const RUNS = Number(process.env.TVM_MODEL_RUNS ?? 120);
const MAX_COMMANDS = Number(process.env.TVM_MODEL_COMMANDS ?? 25);
/** Replays one counterexample: the `path` fast-check printed with its seed. */
const PATH = process.env.TVM_MODEL_PATH;
/** …with the commands' `replayPath` printed after the counterexample. */
const REPLAY = process.env.TVM_MODEL_REPLAY;
const TIMEOUT_MS = Number(process.env.TVM_MODEL_TIMEOUT_MS ?? 240_000);

/**
 * The stories, each a fixed command list replayed through the same model and invariants. The random
 * search finds items 1-3 and the evict answered from a container's copy within a few hundred runs; the
 * fallback copy written over an evict (nine steps) and the refresher under a refusing key service (a clock
 * move into the key's refresh window, then the fault) it did not find in 400 runs, so all six are kept
 * here. On main each reproduces its defect (TVM_MODEL_STRICT=1 shows it); each holds once its defect is
 * fixed and leaves KNOWN_DEFECTS.
 */
const STORIES: ReadonlyArray<readonly [string, readonly Command[]]> = [
  ['item 1: a container dies holding the lease', [new Kill('A', 'read'), new Vend('B', 'orders', 'read')]],
  [
    "item 2: a provider's Retry-After",
    [
      new Fault({ fault: 'provider-429', retryAfterSeconds: 10 }, true),
      new Vend('A', 'orders', 'read'),
      new Vend('B', 'orders', 'read'),
    ],
  ],
  [
    'item 3: a failing provider, two keys',
    [
      new Fault({ fault: 'provider-5xx' }, true),
      new Vend('A', 'orders', 'read'),
      new Vend('A', 'orders', 'read'),
      new Vend('A', 'billing', 'read'),
      new Vend('A', 'orders', 'write'),
    ],
  ],
  [
    'item 4: a fallback copy written over an evict',
    [
      new Fault({ fault: 'table-throttled', region: 'north' }, true),
      new Vend('A', 'orders', 'read'),
      new Fault({ fault: 'table-throttled', region: 'north' }, false),
      new Advance(61),
      new Vend('A', 'orders', 'read'),
      new Vend('B', 'orders', 'read'),
      new Evict('B', 'orders', 'read'),
      new Advance(61),
      new Vend('A', 'orders', 'read'),
    ],
  ],
  [
    "item 4: an evict answered from the container's copy",
    [
      new Fault({ fault: 'table-hung', region: 'north' }, true),
      new Vend('B', 'orders', 'write'),
      new Evict('B', 'orders', 'write'),
    ],
  ],
  [
    'item 5: a refresher whose key service refuses',
    [
      new Vend('A', 'orders', 'read'),
      new Advance(425),
      new Fault({ fault: 'kms-refused', region: 'north' }, true),
      new Refresh('B'),
    ],
  ],
];

describe("The model of a key's life", () => {
  let world: ModelWorld;
  const known: Violation[] = [];

  beforeAll(async () => {
    world = await ModelWorld.start();
  });

  afterAll(async () => {
    await world.close();
  });

  it(
    'holds every invariant after every command, on three instances in two regions over real tables, KMS and provider',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.commands(COMMANDS, {
            maxCommands: MAX_COMMANDS,
            size: 'max',
            ...(REPLAY ? { replayPath: REPLAY } : {}),
          }),
          async (commands) => {
            const real = await world.newRun();
            const state: ModelState = { ref: new ReferenceModel(() => real.clock.now()), known, judged: 0 };
            try {
              await fc.asyncModelRun(() => ({ model: state, real }), commands);
            } catch (error) {
              // The service's own log of the failing run, for reading a counterexample.
              if (process.env.TVM_MODEL_DEBUG === '1')
                console.log(JSON.stringify(real.log.entries(), null, 1));
              throw error;
            } finally {
              await real.close();
            }
          },
        ),
        { seed: SEED, numRuns: RUNS, ...(PATH ? { path: PATH } : {}) },
      );
      if (known.length > 0) {
        // What main still gets wrong, by the defects: printed when the set is narrowed or the test
        // fails, so the merge of each fix can empty KNOWN_DEFECTS.
        const byDefect = new Map<string, number>();
        for (const violation of known)
          byDefect.set(violation.defect ?? '', (byDefect.get(violation.defect ?? '') ?? 0) + 1);
        console.log(`known defects seen: ${JSON.stringify(Object.fromEntries(byDefect))}`);
      }
      expect(known.every((violation) => violation.defect && KNOWN_DEFECTS.has(violation.defect))).toBe(true);
    },
    TIMEOUT_MS,
  );

  it.each(STORIES)('holds every invariant through the story of %s', async (_story, commands) => {
    const real = await world.newRun();
    const state: ModelState = { ref: new ReferenceModel(() => real.clock.now()), known, judged: 0 };
    try {
      // Throws on a violation that is not a known defect, as in the random runs.
      await fc.asyncModelRun(() => ({ model: state, real }), commands);
    } finally {
      await real.close();
    }
    expect(
      state.ref.violations.every((violation) => violation.defect && KNOWN_DEFECTS.has(violation.defect)),
    ).toBe(true);
  });
});
