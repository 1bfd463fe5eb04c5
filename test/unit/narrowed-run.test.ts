import { isNarrowedRun } from '../support/jest/narrowed-run';

describe('which jest runs are held to the coverage thresholds', () => {
  it.each([
    [[], false],
    [['--coverage'], false],
    [['--coverage', '--ci', '--maxWorkers', '2'], false],
    [['--coverage', '--maxWorkers=2', '--runInBand'], false],
  ])('the whole suite: %j', (args, narrowed) => {
    expect(isNarrowedRun(args)).toBe(narrowed);
  });

  it.each([
    [['--coverage', 'test/integration/shared-cache']],
    [['test/unit']],
    [['--coverage', '-t', 'evicts']],
    [['--coverage', '--testNamePattern=evicts']],
    [['--coverage', '--selectProjects', 'unit']],
    [['--coverage', '--onlyChanged']],
    [['--coverage', '--shard=1/2']],
  ])('a part of it: %j', (args) => {
    expect(isNarrowedRun(args)).toBe(true);
  });
});
