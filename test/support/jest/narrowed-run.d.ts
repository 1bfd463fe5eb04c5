/** Whether jest's arguments narrow the run to part of the suite; see narrowed-run.js. */
export function isNarrowedRun(args: readonly string[]): boolean;
