import assert from 'node:assert/strict';

export { RecordingLog } from '../../local/recording-log';

/**
 * Asserts that no line holds any of the sensitive values (client secrets, private keys, tokens). A PEM is
 * checked line by line, so a key logged in part is caught too.
 */
export function assertNothingSensitive(lines: readonly string[], sensitive: Iterable<string>): void {
  const needles = [...sensitive].flatMap((value) =>
    value.includes('-----BEGIN') ? value.split('\n').filter((line) => line.length >= 40) : [value],
  );
  assert.ok(needles.length > 0, 'no sensitive values to look for');
  for (const line of lines) {
    for (const needle of needles) {
      assert.ok(!line.includes(needle), `a log line contains a sensitive value: ${line.slice(0, 120)}…`);
    }
  }
}
