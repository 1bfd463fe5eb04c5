import type { Log } from '../lambda/logging';

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
