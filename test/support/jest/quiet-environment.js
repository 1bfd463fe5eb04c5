// Node's test environment, with what a test file prints held back: Powertools' EMF metrics and log lines
// (written straight to the process's stdout), server warnings, and each test's console calls. A failing
// test's lines are shown with the failure; a passing test's are dropped. The reporter does the same for
// what hooks (beforeAll, afterAll) print through the console.
const { TestEnvironment } = require('jest-environment-node');

const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'];
const STREAMS = [process.stdout, process.stderr];

class QuietEnvironment extends TestEnvironment {
  /** Raw writes to stdout and stderr while this file runs, in order: [stream, chunk]. */
  written = [];
  writtenAtTestStart = 0;
  consoleCalls = [];
  consoleMethods = undefined;
  streamWrites = undefined;
  failed = false;

  async setup() {
    await super.setup();
    this.streamWrites = STREAMS.map((stream) => stream.write);
    for (const stream of STREAMS) {
      stream.write = (chunk, encoding, callback) => {
        this.written.push([stream, chunk]);
        const done = typeof encoding === 'function' ? encoding : callback;
        if (typeof done === 'function') done();
        return true;
      };
    }
  }

  async teardown() {
    STREAMS.forEach((stream, index) => {
      stream.write = this.streamWrites[index];
    });
    if (this.failed) for (const [stream, chunk] of this.written) stream.write(chunk);
    this.written = [];
    await super.teardown();
  }

  async handleTestEvent(event) {
    if (event.name === 'test_start') this.holdTest();
    if (event.name === 'test_done') this.releaseTest(event.test.errors.length > 0);
    if (event.name === 'hook_failure') this.failed = true;
  }

  holdTest() {
    const target = this.global.console;
    this.writtenAtTestStart = this.written.length;
    this.consoleCalls = [];
    this.consoleMethods = Object.fromEntries(CONSOLE_METHODS.map((method) => [method, target[method]]));
    for (const method of CONSOLE_METHODS) {
      // Patched on the console object itself: loggers that kept a reference to it are held back too.
      target[method] = (...args) => this.consoleCalls.push([method, args]);
    }
  }

  releaseTest(testFailed) {
    if (this.consoleMethods === undefined) return;
    const target = this.global.console;
    Object.assign(target, this.consoleMethods);
    this.consoleMethods = undefined;
    if (testFailed) {
      this.failed = true;
      for (const [method, args] of this.consoleCalls) target[method](...args);
    } else {
      this.written.length = this.writtenAtTestStart;
    }
    this.consoleCalls = [];
  }
}

module.exports = QuietEnvironment;
