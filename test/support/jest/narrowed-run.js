// Whether jest's arguments narrow the run to part of the suite (a path, a name pattern, a project, changed
// files): coverage thresholds hold for the whole suite only.
const NARROWING_FLAGS = new Set([
  '-t',
  '--testNamePattern',
  '--testPathPatterns',
  '--testPathPattern',
  '--selectProjects',
  '--ignoreProjects',
  '-o',
  '--onlyChanged',
  '--changedSince',
  '--lastCommit',
  '--findRelatedTests',
  '--onlyFailures',
  '-f',
  '--shard',
]);

// Flags whose value is the next argument, so that value is not read as a path.
const FLAGS_WITH_VALUES = new Set([
  '--maxWorkers',
  '-w',
  '--config',
  '-c',
  '--reporters',
  '--coverageDirectory',
]);

function isNarrowedRun(args) {
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index];
    const flag = arg.split('=')[0];
    if (NARROWING_FLAGS.has(flag)) return true;
    if (FLAGS_WITH_VALUES.has(arg)) {
      index += 1;
      continue;
    }
    if (!arg.startsWith('-')) return true;
  }
  return false;
}

module.exports = { isNarrowedRun };
