// Jest's default reporter (its verbose one with --verbose), except that a test file's captured output
// (service logs, EMF metrics, server warnings) is shown only when the file failed, and a passing file takes no
// line of its own: a green run is the summary, a red one the failures with what they printed.
const { DefaultReporter, VerboseReporter } = require('@jest/reporters');

const failed = (testResult) => testResult.numFailingTests > 0 || testResult.testExecError !== undefined;

const quiet = (Reporter) =>
  class extends Reporter {
    onTestResult(test, testResult, aggregatedResults) {
      super.onTestResult(
        test,
        failed(testResult) ? testResult : { ...testResult, console: undefined },
        aggregatedResults,
      );
    }
  };

const QuietVerbose = quiet(VerboseReporter);

// Without --verbose a passing file prints nothing (the summary counts it): only failures take lines.
class QuietDefault extends quiet(DefaultReporter) {
  printTestFileHeader(testPath, config, testResult) {
    if (failed(testResult)) super.printTestFileHeader(testPath, config, testResult);
  }
}

module.exports = function QuietReporter(globalConfig, options, context) {
  const Reporter = globalConfig.verbose ? QuietVerbose : QuietDefault;
  return new Reporter(globalConfig, options, context);
};
