import assert from 'node:assert/strict';
import type { Log } from '../../lambda/logging';

/** A {@link Log} that keeps every line as the JSON a log sink would receive. */
export class RecordingLog implements Log {
  readonly lines: string[] = [];

  info(message: string, ...attributes: Record<string, unknown>[]): void {
    this.record('INFO', message, attributes);
  }

  warn(message: string, ...attributes: Record<string, unknown>[]): void {
    this.record('WARN', message, attributes);
  }

  error(message: string, ...attributes: Record<string, unknown>[]): void {
    this.record('ERROR', message, attributes);
  }

  entries(): Array<Record<string, unknown>> {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  private record(level: string, message: string, attributes: Record<string, unknown>[]): void {
    this.lines.push(JSON.stringify(Object.assign({ level, message }, ...attributes)));
  }
}

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
