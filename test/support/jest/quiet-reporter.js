// Jest's default reporter (its verbose one with --verbose), except that a test file's captured output
// (service logs, EMF metrics, server warnings) is shown only when the file failed: a green run stays short
// enough to read.
const { DefaultReporter, VerboseReporter } = require('@jest/reporters');

const quiet = (Reporter) =>
  class extends Reporter {
    onTestResult(test, testResult, aggregatedResults) {
      const failed = testResult.numFailingTests > 0 || testResult.testExecError !== undefined;
      const shown = failed ? testResult : { ...testResult, console: undefined };
      super.onTestResult(test, shown, aggregatedResults);
    }
  };

const QuietDefault = quiet(DefaultReporter);
const QuietVerbose = quiet(VerboseReporter);

module.exports = function QuietReporter(globalConfig, options, context) {
  const Reporter = globalConfig.verbose ? QuietVerbose : QuietDefault;
  return new Reporter(globalConfig, options, context);
};
